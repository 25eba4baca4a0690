#!/usr/bin/env bash
# Regenerates docs/samples/ from a real demo run: the demo's excursions, a maintenance period
# set by an engineer while the daemon runs, an operator's signed acknowledgements, QA's review
# and signed closure, then the excursion report (HTML + screenshot + approval signature + CSV)
# and the period report. Every step is an ordinary CLI command, audited as in production.
#
#   scripts/make-sample-reports.sh [DATA_DIR]      (default /tmp/qa-sample; it is wiped first)
#
# Needs the venv (make venv), Mosquitto for the demo's MQTT devices, and Chromium for the
# screenshot. Takes about two minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CM="$ROOT/.venv/bin/cleanroom-monitor"
PY="$ROOT/.venv/bin/python"
DATA="${1:-/tmp/qa-sample}"
OUT="$ROOT/docs/samples"
CFG="$DATA/demo-effective.yaml"  # written by the demo: its ports and this data dir
PASSWORD="Sample-Pass-2026"      # demo accounts only

rm -rf "$DATA"
mkdir -p "$OUT"
START="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# 1. The demo: a Grade B fill room crosses its 0.5 and 5 um alert and action limits, a door
#    opening collapses the pressure cascade, then the counter's laser fails.
"$CM" demo --duration 90 --data-dir "$DATA" > "$DATA.demo.log" 2>&1 &
DEMO=$!

point_state() {  # the state of an alarm point in the daemon's log ("" before it is raised)
  "$CM" alarms list -c "$CFG" --json 2>/dev/null | "$PY" -c '
import json, sys
states = [json.loads(line)["state"] for line in sys.stdin
          if line.strip() and json.loads(line)["point"] == sys.argv[1]]
print(states[-1] if states else "")' "$1"
}

# 2. While the daemon runs: once the 0.5 um action excursion has ended, an engineer puts the
#    counter in maintenance mode for 15 s (handed to the daemon as a request; audited).
for _ in $(seq 120); do
  [ -f "$CFG" ] && [ "$(point_state pc1/p0_5um:high_action)" = rtn_unack ] && break
  sleep 1
done
sleep 3
"$CM" alarms maintenance pc1 on -c "$CFG" --user erin.eng --for 15s \
  --reason "inlet tubing and zero-count check after the excursion"
wait "$DEMO"

# 3. Accounts: an operator and a QA reviewer (temporary password, then their own).
for spec in "olivia:Olivia Operator:operator" "quinn:Quinn Quality:qa"; do
  IFS=: read -r name full role <<< "$spec"
  printf 'Temporary-Pass-0\n' | "$CM" user add -c "$CFG" "$name" --full-name "$full" \
    --role "$role" --password-stdin --reason "sample report accounts"
  printf 'Temporary-Pass-0\n%s\n' "$PASSWORD" | "$CM" user passwd -c "$CFG" "$name" --self \
    --password-stdin
done

# The excursions QA will close (an excursion's id is its alarm's id; listed while active).
alarm_id() {
  "$CM" alarms list -c "$CFG" --json | "$PY" -c '
import json, sys
print([json.loads(l)["alarm_id"] for l in sys.stdin if json.loads(l)["point"] == sys.argv[1]][-1])
' "$1"
}
P05=$(alarm_id pc1/p0_5um:high_action)
DP=$(alarm_id dp1/dp:low_action)

# 4. The operator acknowledges every value alarm; action alarms need her signature.
ack() {
  printf '%s\n' "$PASSWORD" | "$CM" alarms ack "$1" -c "$CFG" --user olivia --reason "$2" \
    --password-stdin
}
ack pc1/p0_5um:high_action "particle burst during line set-up; QA informed"
ack pc1/p0_5um:high_alert "particle burst during line set-up"
ack pc1/p5_0um:high_action "particle burst during line set-up; QA informed"
ack pc1/p5_0um:high_alert "particle burst during line set-up"
ack dp1/dp:low_action "airlock door opened during transfer; cascade restored"
ack dp1/dp:low_alert "airlock door opened during transfer"

# 5. QA reviews both action excursions and closes them with a signature.
printf '%s\n' "$PASSWORD" | "$CM" excursions review -c "$CFG" "$P05" --user quinn \
  --root-cause personnel --root-cause-detail "line set-up with the RABS doors open" \
  --impact minor --impact-assessment "before filling started; no open product exposed" \
  --deviation DEV-2026-0412 --capa CAPA-2026-0087 \
  --comment "counts back within limits within the sample cycle" --password-stdin
printf '%s\n' "$PASSWORD" | "$CM" excursions close -c "$CFG" "$P05" --user quinn \
  --comment "closed per SOP-QA-017" --password-stdin
printf '%s\n' "$PASSWORD" | "$CM" excursions review -c "$CFG" "$DP" --user quinn \
  --root-cause procedure --root-cause-detail "airlock door opened before the interlock delay" \
  --impact none --impact-assessment "cascade restored within 12 s; Grade B remained positive" \
  --comment "retrain on SOP-FAC-022" --password-stdin
printf '%s\n' "$PASSWORD" | "$CM" excursions close -c "$CFG" "$DP" --user quinn \
  --comment "closed per SOP-QA-017" --password-stdin

# 6. The reports, generated and approved by QA.
END="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
period=(--from "$START" --to "$END")
rm -f "$OUT"/excursion-report.* "$OUT"/period-report.*
printf '%s\n' "$PASSWORD" | "$CM" report excursions -c "$CFG" "${period[@]}" --user quinn \
  --password-stdin -o "$OUT/excursion-report.html"
printf '%s\n' "$PASSWORD" | "$CM" report approve -c "$CFG" "$OUT/excursion-report.html" \
  --user quinn --comment "sample report" --password-stdin
"$CM" report excursions -c "$CFG" "${period[@]}" --format csv -o "$OUT/excursion-report.csv"
printf '%s\n' "$PASSWORD" | "$CM" report period -c "$CFG" "${period[@]}" --user quinn \
  --password-stdin -o "$OUT/period-report.html"
"$CM" report verify -c "$CFG" "$OUT/excursion-report.html"
"$CM" audit verify -c "$CFG"
"$CM" alarms verify -c "$CFG"

# 7. What the page looks like in a browser (the viewer of the sample need not run anything).
PROFILE="$(mktemp -d)"
chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$PROFILE" \
  --screenshot="$OUT/excursion-report.png" --window-size=1100,2400 \
  "file://$OUT/excursion-report.html" 2> /dev/null
rm -rf "$PROFILE"
du -ch "$OUT"/* | tail -1
