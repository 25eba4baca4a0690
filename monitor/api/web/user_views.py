"""HTML of the admin's account pages: the list with the add form, one account with its actions.

Built from the API's ``user_view`` JSON. There is no delete button because
there is no delete: accounts are disabled, never deleted, so that every record
keeps naming a real person (21 CFR 11.10(d), 11.300(a)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from monitor.api.auth import Principal
from monitor.users.roles import Role

from . import fmt
from .qa_views import badge, csrf_input
from .render import Markup, esc, join

DONE = {"added": "Account created with a temporary password; the user must change it at the "
                 "first login.",
        "disable": "Account disabled; its sessions have ended.",
        "enable": "Account enabled.", "unlock": "Lockout lifted.",
        "password": "Temporary password set; the user must change it at the next login. "
                    "Their sessions have ended.",
        "roles": "Roles changed."}
ROLE_WORDS = {Role.OPERATOR: "operator — view, acknowledge alarms",
              Role.ENGINEER: "engineer — shelve, maintenance, location state, configure",
              Role.QA: "QA — review and close excursions, reports, audit trail",
              Role.ADMIN: "admin — manage users, audit trail"}


def _time(iso: str | None) -> str:
    return fmt.fmt_time(fmt.ns_of_iso(iso)) if iso else fmt.DASH


def state_badges(user: Mapping[str, Any]) -> Markup:
    out = [badge("disabled", "mode-out_of_service") if user["disabled"]
           else badge("active", "level-normal")]
    if user.get("locked"):
        out.append(badge(f"locked until {_time(user.get('locked_until'))}", "level-action"))
    if user.get("must_change_password"):
        out.append(badge("must change password", "level-alert"))
    elif user.get("password_expired"):
        out.append(badge("password expired", "level-alert"))
    return Markup(" ".join(out))


def _row(user: Mapping[str, Any]) -> Markup:
    name = str(user["username"])
    return Markup(
        f'<tr id="user-{esc(name)}" data-disabled="{str(user["disabled"]).lower()}">'
        f'<td data-label="User name"><a href="/users/{esc(quote(name))}">{esc(name)}</a></td>'
        f'<td data-label="Full name">{esc(user["full_name"])}</td>'
        f'<td data-label="Roles">{esc(", ".join(user["roles"]))}</td>'
        f'<td data-label="State">{state_badges(user)}</td>'
        f'<td data-label="Last login" class="time">{esc(_time(user.get("last_login")))}</td>'
        f'<td data-label="Password set" class="time">{esc(_time(user.get("password_set")))}'
        "</td></tr>")


def role_boxes(selected: Sequence[str]) -> Markup:
    return Markup('<fieldset class="roles"><legend>Roles</legend>' + join([
        Markup(f'<label class="check"><input type="checkbox" name="roles" '
               f'value="{esc(r.value)}"{" checked" if r.value in selected else ""}> '
               f"{esc(ROLE_WORDS[r])}</label>") for r in Role]) + "</fieldset>")


def _reason(label: str = "Reason (recorded in the audit trail)", required: bool = True) -> Markup:
    req = ' required minlength="3"' if required else ""
    return Markup(f'<label>{esc(label)} <input type="text" name="reason" maxlength="500"{req}>'
                  "</label>")


def _passwords(label: str) -> Markup:
    return Markup(
        f'<label>{esc(label)} <input type="password" name="password" required '
        'autocomplete="new-password"></label>'
        '<label>Repeat it <input type="password" name="password2" required '
        'autocomplete="new-password"></label>')


def user_list(users: Sequence[Mapping[str, Any]], principal: Principal, note: Markup,
              kept: Mapping[str, Any]) -> Markup:
    rows = [_row(u) for u in users]
    add = Markup(
        f'<form method="post" action="/users" class="qa-form" id="add-user-form">'
        f"{csrf_input(principal)}<h2>Add a user</h2>"
        '<p class="hint">User names are never reused and accounts are never deleted. The '
        "password is temporary: the user sets their own at the first login.</p>"
        '<label>User name <input type="text" name="username" required maxlength="64" '
        f'pattern="[A-Za-z0-9._@\\-]+" value="{esc(kept.get("username", ""))}"></label>'
        '<label>Full name (printed on signatures) <input type="text" name="full_name" '
        f'required maxlength="200" value="{esc(kept.get("full_name", ""))}"></label>'
        f"{role_boxes(kept.get('roles', []))}{_passwords('Temporary password')}"
        f"{_reason('Reason (optional, recorded in the audit trail)', required=False)}"
        '<button type="submit" id="add-user">Add user</button></form>')
    return join([
        Markup("<h1>Users</h1>"), note,
        Markup('<table class="users" id="user-table"><thead><tr><th>User name</th>'
               "<th>Full name</th><th>Roles</th><th>State</th><th>Last login (UTC)</th>"
               f"<th>Password set (UTC)</th></tr></thead><tbody>{join(rows)}</tbody>"
               "</table>"),
        add,
    ])


def _action_form(name: str, action: str, principal: Principal, *, title: str, hint: str,
                 button: str, inner: str = "", secondary: bool = False) -> Markup:
    cls = ' class="secondary"' if secondary else ""
    return Markup(
        f'<form method="post" action="/users/{esc(quote(name))}/{action}" class="qa-form" '
        f'id="{action}-form">{csrf_input(principal)}<h3>{esc(title)}</h3>'
        f'<p class="hint">{esc(hint)}</p>{Markup(inner)}{_reason()}'
        f'<button type="submit" id="{action}-submit"{cls}>{esc(button)}</button></form>')


def user_detail(user: Mapping[str, Any], principal: Principal, note: Markup) -> Markup:
    name = str(user["username"])
    rows: list[tuple[str, Any]] = [
        ("User name", name), ("Full name (printed on signatures)", user["full_name"]),
        ("Roles", ", ".join(user["roles"])), ("State", state_badges(user)),
        ("Created", _time(user.get("created"))), ("Last login", _time(user.get("last_login"))),
        ("Password set", _time(user.get("password_set"))),
    ]
    facts = Markup('<dl class="facts" id="user-facts">' + join(
        [Markup(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>") for k, v in rows]) + "</dl>")
    forms = [_action_form(name, "roles", principal, title="Roles",
                          hint="Replaces the roles; the user's sessions end so that no "
                          "session keeps the old rights.",
                          inner=role_boxes(user["roles"]), button="Set roles")]
    if user["disabled"]:
        forms.append(_action_form(name, "enable", principal, title="Enable the account",
                                  hint="The user may log in again.", button="Enable"))
    else:
        forms.append(_action_form(name, "disable", principal, title="Disable the account",
                                  hint="The user can no longer log in; their sessions and "
                                  "API tokens stop working. The account and its records stay.",
                                  button="Disable", secondary=True))
    if user.get("locked"):
        forms.append(_action_form(name, "unlock", principal, title="Lift the lockout",
                                  hint="Locked after too many failed logins or signatures.",
                                  button="Unlock"))
    forms.append(_action_form(name, "password", principal, title="Reset the password",
                              hint="Sets a temporary password, to be changed at the next "
                              "login; the user's sessions end.",
                              inner=_passwords("Temporary password"), button="Reset password",
                              secondary=True))
    return join([
        Markup(f"<h1>User {esc(name)} <small>{esc(user['full_name'])}</small></h1>"),
        Markup('<p class="back"><a href="/users">← Users</a></p>'), note,
        Markup('<div class="qa-columns"><div><section id="account"><h2>Account</h2>'),
        facts, Markup('</section></div><div class="qa-actions">'), join(forms),
        Markup("</div></div>"),
    ])
