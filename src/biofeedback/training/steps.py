"""Education pages, thought records and reflections: the CBT steps a protocol may hold.

A step phase (kind ``education``, ``thought-record`` or ``reflection``) has no EMG target: the
signal keeps recording, but the runner does not score it and waits for the user's Continue (or
the phase's optional time limit). This module holds what is not the runner's business: the
built-in education pages (``training/library/education/*.md``, written for this project), the
Markdown-lite format they use, the checks on a page or image a protocol names, the fields of a
thought record, and the validation of the answers a window or the CLI hands back.

The rationale for the content is in docs/clinical-background.md ("Cognitive-behavioural steps").
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

LIBRARY_PACKAGE = "biofeedback.training"
#: Largest education page read (the built-in ones are under 4 KiB).
MAX_PAGE_BYTES = 64 * 1024
#: Largest image an education page may show.
MAX_IMAGE_BYTES = 5 * 1024 * 1024
#: Longest free-text answer kept (a thought record field, a reflection).
MAX_ANSWER_CHARS = 4000
#: Image types a page may show, by file suffix, with the bytes a file of that type starts with.
IMAGE_MAGIC: dict[str, tuple[bytes, ...]] = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
}
_PAGE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

#: Default question of a reflection phase (after a stress or reactivity step).
DEFAULT_REFLECTION_PROMPT = "What did you notice in your body? What helped you come back down?"


@dataclass(frozen=True)
class Field:
    """One answer of a step: ``kind`` is ``text`` (free text) or ``percent`` (0-100)."""

    key: str
    label: str
    help: str
    kind: str = "text"


#: The thought record, one field per step, in the order the patient fills them in.
THOUGHT_RECORD_FIELDS: tuple[Field, ...] = (
    Field("situation", "Situation", "Where were you, what were you doing, when did it start?"),
    Field(
        "thought", "Automatic thought", "What went through your mind? Write it as you thought it."
    ),
    Field(
        "belief_before",
        "How strongly do you believe it?",
        "0 % (not at all) to 100 % (completely)",
        "percent",
    ),
    Field("evidence_for", "Evidence for the thought", "What makes it seem true?"),
    Field("evidence_against", "Evidence against the thought", "What does not fit with it?"),
    Field(
        "balanced",
        "A balanced thought",
        "A fairer way to see it that takes in all the evidence.",
    ),
    Field(
        "belief_after",
        "How strongly do you believe the first thought now?",
        "0 % (not at all) to 100 % (completely)",
        "percent",
    ),
)


def reflection_fields(prompt: str) -> tuple[Field, ...]:
    """The single free-text answer of a reflection phase."""
    return (Field("reflection", prompt or DEFAULT_REFLECTION_PROMPT, ""),)


def fields_for(kind: str, prompt: str = "") -> tuple[Field, ...]:
    """The answers a step phase of ``kind`` asks for (none for an education page)."""
    if kind == "thought-record":
        return THOUGHT_RECORD_FIELDS
    if kind == "reflection":
        return reflection_fields(prompt)
    return ()


def check_answers(kind: str, answers: dict[str, Any], prompt: str = "") -> dict[str, Any]:
    """The answers cleaned up (text stripped, percents as numbers); ValueError naming the field.

    Empty fields are allowed (a patient may leave one out) and stored as "" or None.
    """
    fields = {f.key: f for f in fields_for(kind, prompt)}
    unknown = sorted(set(answers) - set(fields))
    if unknown:
        allowed = ", ".join(fields) or "none"
        raise ValueError(
            f"unknown answer(s) {', '.join(unknown)} for a {kind} (allowed: {allowed})"
        )
    out: dict[str, Any] = {}
    for key, f in fields.items():
        value = answers.get(key)
        if f.kind == "percent":
            out[key] = parse_percent(value, f.label)
        else:
            text = "" if value is None else str(value).strip()
            if len(text) > MAX_ANSWER_CHARS:
                raise ValueError(
                    f"{f.label}: {len(text)} characters is too long (at most {MAX_ANSWER_CHARS})"
                )
            out[key] = text
    return out


def parse_percent(value: object, label: str) -> float | None:
    """0-100 from a number or text like ``"70"`` / ``"70 %"``; None for empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{label}: give a number from 0 to 100 (got {value!r})")
    try:
        number = float(str(value).strip().rstrip("%").strip())
    except ValueError:
        raise ValueError(f"{label}: give a number from 0 to 100 (got {value!r})") from None
    if not 0 <= number <= 100:
        raise ValueError(f"{label}: give a number from 0 to 100 (got {number:g})")
    return number


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Page:
    """An education page: a title and its Markdown-lite body."""

    page_id: str
    title: str
    body: str


def builtin_page_ids() -> list[str]:
    """Ids of the built-in education pages, sorted."""
    folder = resources.files(LIBRARY_PACKAGE).joinpath("library", "education")
    return sorted(e.name[: -len(".md")] for e in folder.iterdir() if e.name.endswith(".md"))


def parse_page(text: str, page_id: str) -> Page:
    """A page from its text: an optional first line ``# Title``, then the body."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    title = ""
    if lines and lines[0].startswith("# "):
        title = lines[0][2:].strip()
        lines = lines[1:]
    body = "\n".join(lines).strip()
    if not body:
        raise ValueError(f"page {page_id!r} has no text")
    return Page(page_id, title, body)


def load_page(ref: str, base_dir: Path | None) -> Page:
    """A built-in page by id, or a ``.md`` / ``.txt`` file relative to ``base_dir``.

    ``base_dir`` is the folder of the protocol file (None for a built-in protocol, which may only
    name built-in pages). Raises ValueError with the reason.
    """
    if _PAGE_ID_RE.match(ref):
        if ref not in builtin_page_ids():
            raise ValueError(
                f"page {ref!r} is not a built-in page: choose one of "
                f"{', '.join(builtin_page_ids())}, or give a .md file next to the protocol"
            )
        data = resources.files(LIBRARY_PACKAGE).joinpath("library", "education", f"{ref}.md")
        return parse_page(data.read_text(encoding="utf-8"), ref)
    path = _local_file(ref, base_dir, (".md", ".txt"), "page")
    size = path.stat().st_size
    if size > MAX_PAGE_BYTES:
        raise ValueError(f"page {ref!r} is {size} bytes; the limit is {MAX_PAGE_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"page {ref!r} is not UTF-8 text") from None
    return parse_page(text, ref)


def builtin_image_names() -> list[str]:
    """File names of the built-in pictures (``training/library/education/*.png``), sorted."""
    folder = resources.files(LIBRARY_PACKAGE).joinpath("library", "education")
    return sorted(e.name for e in folder.iterdir() if Path(e.name).suffix in IMAGE_MAGIC)


def check_image(ref: str, base_dir: Path | None) -> str:
    """The absolute path of an image a page shows, after checking type and size.

    A file next to the protocol wins; otherwise a built-in picture of that name (the only
    choice for a built-in protocol).
    """
    local = base_dir is not None and (base_dir / Path(ref).expanduser()).is_file()
    if not local and ref in builtin_image_names():
        return str(resources.files(LIBRARY_PACKAGE).joinpath("library", "education", ref))
    path = _local_file(ref, base_dir, tuple(IMAGE_MAGIC), "image")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"image {ref!r} is {size} bytes; the limit is {MAX_IMAGE_BYTES}")
    with path.open("rb") as fh:
        head = fh.read(8)
    if not any(head.startswith(m) for m in IMAGE_MAGIC[path.suffix.lower()]):
        raise ValueError(f"image {ref!r} is not a {path.suffix.lower()[1:].upper()} file")
    return str(path)


def _local_file(ref: str, base_dir: Path | None, suffixes: tuple[str, ...], what: str) -> Path:
    if base_dir is None:
        raise ValueError(
            f"{what} {ref!r}: a built-in protocol can only use built-in pages "
            f"({', '.join(builtin_page_ids())}) and pictures ({', '.join(builtin_image_names())})"
        )
    if Path(ref).suffix.lower() not in suffixes:
        raise ValueError(f"{what} {ref!r} must be a {' or '.join(suffixes)} file")
    path = Path(ref).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ValueError(
            f"{what} file {str(path)!r} does not exist (paths are relative to the protocol file)"
        )
    return path.resolve()


# --------------------------------------------------------------------------- rendering


def _blocks(body: str) -> list[tuple[str, list[str]]]:
    """The page as blocks: ("h", [text]), ("p", [lines]) or ("ul", [items])."""
    out: list[tuple[str, list[str]]] = []
    for chunk in re.split(r"\n\s*\n", body.strip()):
        lines = [ln.strip() for ln in chunk.strip().split("\n") if ln.strip()]
        if not lines:
            continue
        if lines[0].startswith("#"):
            out.append(("h", [lines[0].lstrip("#").strip()]))
            lines = lines[1:]
            if not lines:
                continue
        if lines[0].startswith(("- ", "* ")):
            items: list[str] = []
            for ln in lines:  # a line not starting with "- " continues the item above
                if ln.startswith(("- ", "* ")):
                    items.append(ln[2:].strip())
                else:
                    items[-1] += " " + ln
            out.append(("ul", items))
        else:
            out.append(("p", [" ".join(lines)]))
    return out


def _inline_html(text: str) -> str:
    escaped = html.escape(text)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


def page_html(title: str, body: str, image_url: str = "", image_width: int = 0) -> str:
    """Qt rich text for the window (headings, paragraphs, bullet lists, **bold**); a picture
    (``image_url``, drawn ``image_width`` pixels wide) goes under the title."""
    parts = [f"<h1>{html.escape(title)}</h1>"] if title else []
    if image_url:
        parts.append(
            f'<div align="center"><img src="{html.escape(image_url)}" width="{int(image_width)}"></div>'
        )
    for kind, items in _blocks(body):
        if kind == "h":
            parts.append(f"<h2>{_inline_html(items[0])}</h2>")
        elif kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
        else:
            parts.append(f"<p>{_inline_html(items[0])}</p>")
    return "\n".join(parts)


def page_text(title: str, body: str, width: int = 78) -> str:
    """Plain text for a terminal, wrapped at ``width``."""
    import textwrap

    parts = [title, "=" * len(title)] if title else []
    for kind, items in _blocks(body):
        if parts:
            parts.append("")
        plain = [i.replace("**", "") for i in items]
        if kind == "h":
            parts.extend([plain[0], "-" * len(plain[0])])
        elif kind == "ul":
            for item in plain:
                parts.append(
                    textwrap.fill(item, width, initial_indent="  - ", subsequent_indent="    ")
                )
        else:
            parts.append(textwrap.fill(plain[0], width))
    return "\n".join(parts)
