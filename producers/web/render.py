"""HTML of the preference center: accessible (labels, fieldsets, lang), no JavaScript needed.

Every text comes from the configuration; every value is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from producers.web.config import Question, WebConfig
from producers.web.preferences import Current, Desired
from schemas.validation import Problem
from schemas.vocabulary import CADENCES


def stylesheet(config: WebConfig) -> str:
    """The page's CSS, in the brand's colours (served as /style.css, so the CSP needs no inline style)."""
    c = config.colors
    return f"""
body {{ font-family: system-ui, sans-serif; font-size: 1.05rem; line-height: 1.5; margin: 0;
  color: {c['text']}; background: {c['background']}; }}
header {{ background: {c['primary']}; color: {c['primary_text']}; padding: .75rem 1.5rem; }}
main {{ max-width: 44rem; margin: 0 auto; padding: 1rem 1.5rem 3rem; }}
fieldset {{ border: 1px solid {c['muted']}; border-radius: .4rem; margin: 1.25rem 0; padding: .75rem 1rem; }}
legend {{ font-weight: 700; padding: 0 .3rem; }}
.why, .hint {{ color: {c['muted']}; font-size: .95rem; margin: .2rem 0 .6rem; }}
.option {{ margin: .45rem 0; }}
label {{ cursor: pointer; }}
input[type=text], input[type=email], input[type=tel], input[type=time], select {{ font-size: 1rem; padding: .35rem;
  border: 1px solid {c['muted']}; border-radius: .25rem; color: {c['text']}; background: {c['background']}; }}
button {{ font-size: 1rem; padding: .6rem 1.2rem; border-radius: .3rem; border: 2px solid {c['primary']}; cursor: pointer; }}
button.primary {{ background: {c['primary']}; color: {c['primary_text']}; }}
button.secondary {{ background: {c['background']}; color: {c['primary']}; }}
:focus-visible {{ outline: 3px solid {c['primary']}; outline-offset: 2px; }}
.unsubscribe {{ border: 2px solid {c['primary']}; border-radius: .4rem; padding: .75rem 1rem; margin: 1rem 0; }}
.errors {{ border: 3px solid #b00020; padding: .5rem 1rem; color: {c['text']}; }}
a {{ color: {c['primary']}; }}
"""


def _page(config: WebConfig, title: str, body: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="{escape(config.lang)}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{escape(title)} · {escape(config.brand)}</title>
<link rel="stylesheet" href="/style.css"></head>
<body><header><p><strong>{escape(config.brand)}</strong></p></header>
<main id="main"><h1>{escape(title)}</h1>
{body}
</main></body></html>"""


def _checkbox(name: str, label: str, why: str, checked: bool, extra: str = "") -> str:
    ident = name.replace(".", "-")
    return (f'<div class="option"><input type="checkbox" id="{ident}" name="{escape(name)}" value="on"'
            f' aria-describedby="{ident}-why"{" checked" if checked else ""}>'
            f' <label for="{ident}">{escape(label)}</label>'
            f'<p class="why" id="{ident}-why">{escape(why)}{extra}</p></div>')


def _fieldset(config: WebConfig, key: str, inner: str) -> str:
    return (f'<fieldset aria-describedby="{key}-why"><legend>{escape(config.text(key + "_legend"))}</legend>'
            f'<p class="why" id="{key}-why">{escape(config.text(key + "_why"))}</p>{inner}</fieldset>')


def _select(name: str, options: list[tuple[str, str]], selected: str) -> str:
    items = "".join(f'<option value="{escape(value)}"{" selected" if value == selected else ""}>{escape(label)}</option>'
                    for value, label in options)
    return f'<select id="{name}" name="{name}">{items}</select>'


def _input(kind: str, name: str, label: str, value: str | None, autocomplete: str = "off") -> str:
    return (f'<div class="option"><label for="{name}">{escape(label)}</label><br>'
            f'<input type="{kind}" id="{name}" name="{name}" value="{escape(value or "")}" autocomplete="{autocomplete}"></div>')


def _errors(config: WebConfig, problems: list[Problem]) -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{escape(p.path)}: {escape(p.message)}</li>" for p in problems)
    return f'<div class="errors" role="alert"><h2>{escape(config.text("errors_title"))}</h2><ul>{items}</ul></div>'


def unsubscribe_form(config: WebConfig, link_token: str, csrf: str) -> str:
    """The always-visible one-click "unsubscribe from everything" form."""
    return (f'<form class="unsubscribe" method="post" action="/p/{escape(link_token)}/unsubscribe-all">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
            f'<button type="submit" class="secondary">{escape(config.text("unsubscribe_all"))}</button>'
            f'<p class="hint">{escape(config.text("unsubscribe_all_why"))}</p></form>')


def preferences_page(config: WebConfig, current: Current, questions: list[Question], link_token: str, csrf: str,
                     *, desired: Desired | None = None, problems: Sequence[Problem] = ()) -> str:
    """The preference center showing the current values (or the submitted ones, after a problem)."""
    shown = desired or {}

    def value(key: str, default: Any) -> Any:
        return shown.get(key, default)

    channels = "".join(
        _checkbox(f"consent.{c.code}", c.label, c.why, value(f"consent:{c.code}", current.consented(c.code)),
                  " " + escape(config.text("email_pending")) if c.code == "EMAIL" and current.consents.get("EMAIL") == "PENDING" else "")
        for c in config.channels)
    topics = "".join(_checkbox(f"topic.{t.code}", t.label, t.why, value(f"topic:{t.code}", current.topics.get(t.code, False)))
                     for t in config.topics)
    cadence = _select("cadence", [("", config.text("frequency_none"))] + [(c, config.text(f"frequency_{c}")) for c in CADENCES],
                      value("cadence", current.cadence) or "")
    pause_options = [("keep", config.text("pause_keep"))]
    if current.paused_until:
        pause_options.append(("resume", config.text("pause_resume")))
    pause_options += [(str(days), config.text("pause_for", days=days)) for days in config.pause_days]
    paused = (f'<p>{escape(config.text("paused_until", until=_day(current.paused_until)))}</p>' if current.paused_until else "")
    start, end, zone = value("quiet", current.quiet) or ("", "", "UTC")
    quiet = (_input("time", "quiet_start", config.text("quiet_start"), start)
             + _input("time", "quiet_end", config.text("quiet_end"), end)
             + _input("text", "quiet_zone", config.text("quiet_zone"), zone))
    contact = (_input("email", "email", config.text("contact_email"), value("email", current.email), "email")
               + _input("tel", "phone", config.text("contact_phone"), value("phone", current.phone), "tel"))
    body = [
        _errors(config, list(problems)),
        f'<p>{escape(config.text("intro"))}</p>',
        unsubscribe_form(config, link_token, csrf),
        f'<form method="post" action="/p/{escape(link_token)}"><input type="hidden" name="csrf" value="{escape(csrf)}">',
        _fieldset(config, "channels", channels),
        _fieldset(config, "topics", topics),
        _fieldset(config, "frequency", f'<label for="cadence">{escape(config.text("frequency_legend"))}</label> {cadence}'),
        _fieldset(config, "pause", paused + f'<label for="pause">{escape(config.text("pause_legend"))}</label> '
                  + _select("pause", pause_options, "keep")),
        _fieldset(config, "quiet", quiet),
        _fieldset(config, "contact", contact),
    ]
    if questions:
        body.append(_fieldset(config, "questions", "".join(_question(q, value(f"answer:{q.key}", "")) for q in questions)))
    body.append(f'<p><button type="submit" class="primary">{escape(config.text("save"))}</button></p></form>')
    return _page(config, config.text("title"), "\n".join(body))


def _question(question: Question, answer: str) -> str:
    name = f"answer.{question.key}"
    ident = name.replace(".", "-")
    if question.choices:
        field = _select(ident, [("", "—")] + [(c, c) for c in question.choices], answer).replace(f'name="{ident}"', f'name="{name}"')
    else:
        field = f'<input type="text" id="{ident}" name="{escape(name)}" value="{escape(answer)}" maxlength="200">'
    return (f'<div class="option"><label for="{ident}">{escape(question.question)}</label><br>{field}'
            f'<p class="why">{escape(question.why)}</p></div>')


def _day(moment: datetime) -> str:
    return moment.strftime("%d %B %Y")


def saved_page(config: WebConfig, link_token: str, count: int, *, confirm_sent: bool, dev_link: str | None) -> str:
    """The confirmation after a save: what was recorded, and the email confirmation notice."""
    lines = [f'<p role="status">{escape(config.text("saved_count", count=count) if count else config.text("saved_nothing"))}</p>']
    if confirm_sent:
        lines.append(f'<p>{escape(config.text("confirm_sent"))}</p>')
    if dev_link:
        lines.append(f'<p class="hint">Development mode: '
                     f'<a id="dev-confirm-link" href="{escape(dev_link)}">email confirmation link</a></p>')
    lines.append(f'<p><a href="/p/{escape(link_token)}">{escape(config.text("back"))}</a></p>')
    return _page(config, config.text("saved_title"), "\n".join(lines))


def forbidden_page(config: WebConfig, reason: str) -> str:
    """The 403 page: why the link or form was refused, and what to do."""
    return _page(config, config.text("forbidden_title"), f'<p role="alert">{escape(config.text(f"forbidden_{reason}"))}</p>')


def message_page(config: WebConfig, title_key: str, text: str) -> str:
    """A page with a title from the configuration and one paragraph."""
    return _page(config, config.text(title_key), f"<p>{escape(text)}</p>")


def confirm_email_page(config: WebConfig, confirm_token: str, csrf: str) -> str:
    """The double opt-in page: one button (a POST, so that link scanners do not confirm)."""
    return _page(config, config.text("confirm_title"),
                 f'<form method="post" action="/confirm/{escape(confirm_token)}"><input type="hidden" name="csrf" value="{escape(csrf)}">'
                 f'<button type="submit" class="primary">{escape(config.text("confirm_button"))}</button></form>')
