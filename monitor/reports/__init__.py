"""QA reports: excursions and period summaries as HTML (inline SVG plots), CSV, JSON or PDF.

``build_report`` gathers the content from the records, ``render_html`` /
``render_csv`` / ``render_json`` / ``pdf.html_to_pdf`` write it, and
``generate.write_report`` does both and records the generation in the audit trail.

Nothing is imported here: the CLI registers its commands from this package's
names without loading matplotlib, which only ``plot`` (drawing a trend) needs.
"""

FORMATS = ("html", "csv", "json", "pdf")
