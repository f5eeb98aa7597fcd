"""YAML front matter loading: PyYAML semantics, with a fast path through yaml_rs.

PyYAML (YAML 1.1, ``SafeLoader``; the libyaml ``CSafeLoader`` when available) is the reference:
:func:`load_front_matter` always returns what ``yaml.load(text, Loader=CSafeLoader)`` returns and
raises what it raises. yaml_rs (a Rust YAML 1.2 parser, several times faster) is used only for texts
that a cheap pre-scan (:func:`needs_reference_parser`) finds free of every construct on which the
two parsers were found to disagree:

* YAML 1.1 scalars that YAML 1.2 reads differently: ``yes/no/on/off`` (any case) booleans, octal
  ``0777``, sexagesimal ``1:20``, ``0o17``/``0x..``/``0b..``, ``1_000``, ``_1``, ``1e3`` (no dot),
  ``.Nan``, timestamps without seconds or with one-digit fields, and out-of-range timestamps such as
  ``2022-02-30`` (PyYAML raises ``ValueError``, yaml_rs returns a string);
* quoted strings that read as a date or a time: yaml_rs turns even ``"2022-03-24"`` and
  ``'12:30:00'`` into ``date``/``time`` objects, PyYAML keeps strings (also reachable through
  escapes such as ``"\x32022-03-24"`` or an escaped line break right after the quote);
* tags (``!!binary``, ``!!omap``, ``!foo``), anchors and aliases, merge keys ``<<``, the ``=`` value
  key, directives, ``---``/``...`` document markers (several documents), explicit ``?``/``:`` keys,
  flow collections (``[1]: x`` is a valid key for yaml_rs only), block scalars (``|1`` at the end of
  the text keeps a newline in yaml_rs only);
* characters: tabs (yaml_rs accepts tab indentation), a BOM, NEL/LS/PS (U+0085, U+2028, U+2029:
  line breaks for YAML 1.1 only), a lone CR, and the C0/C1 controls PyYAML refuses.

Duplicate keys (PyYAML: the last wins; yaml_rs: error) and every other yaml_rs error simply fall
back to PyYAML, so errors are always PyYAML's own exceptions, with its marks.

The pre-scan is conservative: each line's scalars that start like a number, a date, an indicator
or one of the words above are accepted only in forms both parsers were found to read identically
(decimal ints, simple decimals, ``~``, in-range ``YYYY-MM-DD[Thh:mm:ss[.f][Z|+hh:mm]]``, digits
followed by a letter no number uses, such as ``01Net``). False alarms (e.g. a quoted line that
starts with a digit after a line break) only cost speed. On the corpus it sends 6 files of 5,516
to PyYAML, and yaml_rs plus the pre-scan is about 8x faster than libyaml's ``CSafeLoader``.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from typing import Any

import yaml

try:  # pragma: no cover - depends on the installed PyYAML build
    from yaml import CSafeLoader as _ReferenceLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _ReferenceLoader  # type: ignore[assignment]

_yaml_rs: Any = None  # set by enable_fast_path(), in parser worker processes only

FAST_YAML: bool = importlib.util.find_spec("yaml_rs") is not None
"""Whether the yaml_rs fast path is installed (it is used only where it was enabled)."""


def enable_fast_path() -> bool:
    """Import yaml_rs so that :func:`load_front_matter` may use it; True when it is available.

    Only for the main thread of a dedicated parser process (``bot.ingest.pool``). yaml_rs 0.1.6
    crashes the interpreter (SIGSEGV) when it is used from a new thread after the thread that
    first imported it has exited, so the bot's own process never imports it: there every parse
    uses PyYAML, which gives the same results.
    """
    global _yaml_rs
    if _yaml_rs is None and FAST_YAML:
        import yaml_rs

        _yaml_rs = yaml_rs
    return _yaml_rs is not None


def fast_path_enabled() -> bool:
    return _yaml_rs is not None


REFERENCE_LOADER_NAME: str = _ReferenceLoader.__name__

FAST_MAX_INDENT = 1_000
"""A line indented this deep (spaces and "- ") sends the text to PyYAML (yaml_rs dies past ~10k)."""

# Characters PyYAML treats differently from yaml_rs (or refuses). ASCII ones are found with one
# bytes.translate over the UTF-8 text (much faster than a regex character class); a CR counts
# only when it is not part of a CRLF; the rest with `in` (skipped for ASCII text).
_GOOD_BYTES = bytes([0x0A, 0x0D, *range(0x20, 0x7F), *range(0x80, 0x100)])
_BAD_NON_ASCII = (*map(chr, range(0x80, 0xA0)), "\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff")


def _has_bad_chars(text: str) -> bool:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return True
    if data.translate(None, _GOOD_BYTES):
        return True
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return True
    return not text.isascii() and any(char in text for char in _BAD_NON_ASCII)


# A scalar is suspicious when it starts with a character that can begin a number, a date, an
# indicator, a tag, an anchor, an alias or a flow collection and is not one of the SAFE forms
# followed by the end of the scalar; when it is one of the YAML 1.1 boolean words (or a lone
# "Z", which can fold into a timestamp); or when it is a quoted date or time: yaml_rs turns even a
# quoted "2022-03-24" or "12:30:00" into a date or a time, PyYAML keeps the string.
_END = r"""
    (?: [ ]*+ : (?:[ ]|\r?$)             # end of an implicit key
      | [ ]++ \# [^\n]*+ $               # trailing comment
      | [ ]*+ \r?$                       # end of line
    )
"""
_TIMESTAMP = r"""
    (?!0000)[0-9]{4}-
    (?: (?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])
      | (?:0[13-9]|1[0-2])-(?:29|30)
      | (?:0[13578]|1[02])-31 )
    (?: [Tt ] (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9] (?:\.[0-9]++)?
        (?: [ ]? (?:[Zz]|[-+](?:[01][0-9]|2[0-3]):[0-5][0-9]) )? )?
"""
_SAFE = rf"""
    (?: [-+]?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?    # decimal int or plain decimal
      | ~
      | {_TIMESTAMP}
    )
"""
# Digits followed by a letter that no number or date spelling uses there ("01Net", "3D", "5G"):
# a string for both parsers.
_DIGITS_THEN_TEXT = r"[0-9]++[ACDF-NP-SU-WYacdf-np-su-wy]"
_SUSPICIOUS_SCALAR = rf"""
    (?= ["'] [0-9\\\r\n] | [-+.0-9_~<=?:,\[\]{{}}&*!|>%@`yYnNoOzZ] )   # cheap rejection
    (?: ["'] (?: [0-9]{{4}}- | [0-9]{{2}}: | \\[xuU] | \\?\r?$ )
      | (?= [-+.0-9_~<=?:,\[\]{{}}&*!|>%@`] ) (?! {_SAFE} {_END} | {_DIGITS_THEN_TEXT} )
      | (?: [yY][eE][sS] | [nN][oO] | [oO](?:[nN]|[fF][fF]) | [zZ] ) {_END}
    )
"""
# Node starts: (1) a line start after indentation and "- " indicators (this also covers keys and
# values continued on the next line); (2) after an implicit key's ": ". For (2) every ": " is
# searched (a literal, so fast) and a hit counts when the line before it really is an implicit
# key; most hits are in quoted text such as "Diablo 4: 10 things". Only space, tab and line
# breaks are YAML white space: a key may be a lone U+202F, and ":" + U+00A0 does not end a key.
# "\n" as a literal prefix lets the regex engine skip ahead, unlike "^" with MULTILINE, which is
# tried at every position.
_LINE_START = r"[ ]*+ (?: - (?:[ ]++|(?=\r?$)) )*+"
_FLAGS = re.MULTILINE | re.VERBOSE
_FIRST_LINE = re.compile(_LINE_START + _SUSPICIOUS_SCALAR, _FLAGS)
_NEXT_LINE = re.compile(r"\n" + _LINE_START + _SUSPICIOUS_SCALAR, _FLAGS)
_AFTER_COLON = re.compile(r":\ [ ]*+" + _SUSPICIOUS_SCALAR, _FLAGS)
_KEY_BEFORE_COLON = re.compile(
    rf"""
    {_LINE_START}
    (?: "(?:[^"\\\n]|\\.)*+" [ ]*+
      | '(?:[^'\n]|'')*+' [ ]*+
      | [^ \t\r\n"'\#] [^:\n]*+ (?: :(?![ \t\r\n]) [^:\n]*+ )*+   # ends at the first ": "
    )
    """,
    _FLAGS,
)


@functools.lru_cache(maxsize=8)
def _deep_line(levels: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(rf"[ \-]{{{levels}}}"), re.compile(rf"\n[ \-]{{{levels}}}")


def has_deep_lines(text: str, levels: int) -> bool:
    """True when a line starts with ``levels`` or more spaces and dashes (block nesting).

    C parsers overflow their stack on very deep nesting, which kills the process instead of
    raising: yaml_rs somewhere between 10,000 and 12,000 block levels, libyaml-based PyYAML
    between 20,000 and 30,000 (block or flow). Flow collections never take the fast path.
    """
    first, other = _deep_line(levels)
    return first.match(text) is not None or other.search(text) is not None


def needs_reference_parser(text: str) -> bool:
    """True when ``text`` may hold a construct on which yaml_rs and PyYAML could disagree.

    Also true for block nesting deep enough to threaten yaml_rs's stack (see ``has_deep_lines``).
    """
    if _has_bad_chars(text) or _FIRST_LINE.match(text) or _NEXT_LINE.search(text):
        return True
    if has_deep_lines(text, FAST_MAX_INDENT):
        return True
    for hit in _AFTER_COLON.finditer(text):
        colon = hit.start()
        if _KEY_BEFORE_COLON.fullmatch(text, text.rfind("\n", 0, colon) + 1, colon):
            return True
    return False


def _load_reference(text: str) -> Any:
    return yaml.load(text, Loader=_ReferenceLoader)  # a safe loader


def load_front_matter(text: str, *, fast: bool = True) -> Any:
    """Parse one YAML document exactly as PyYAML's safe loader does.

    yaml_rs is used only in a process that called :func:`enable_fast_path`; ``fast=False``
    forces PyYAML there too. Errors are PyYAML's: ``yaml.YAMLError`` (with ``problem_mark``),
    or ``ValueError`` raised while building a value such as the timestamp ``2022-02-30``.
    """
    if fast and _yaml_rs is not None and not needs_reference_parser(text):
        try:
            return _yaml_rs.loads(text)
        except (ValueError, TypeError, OverflowError, RecursionError):
            pass  # yaml_rs refused it: PyYAML decides, and reports its own error
    return _load_reference(text)


def error_line(err: BaseException, text: str) -> int | None:
    """The 1-based line in ``text`` where PyYAML located ``err``, or None.

    Marked YAML errors carry the line. A ``ValueError``/``TypeError`` raised while constructing a
    value carries none, so the text is composed again and scalars constructed one by one until the
    failing one is found (error path only).
    """
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        return None if mark is None else mark.line + 1
    if isinstance(err, yaml.reader.ReaderError):
        # libyaml reports a UTF-8 byte offset, the pure-Python reader a character offset
        if _ReferenceLoader is yaml.SafeLoader:
            return text.count("\n", 0, err.position) + 1
        return text.encode("utf-8", "surrogatepass")[: err.position].count(b"\n") + 1
    if not isinstance(err, ValueError | TypeError | OverflowError):
        return None
    loader = yaml.SafeLoader(text)
    try:
        stack = [loader.get_single_node()]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.ScalarNode):
                try:
                    loader.construct_object(node, deep=True)
                except (ValueError, TypeError, OverflowError, yaml.YAMLError):
                    return node.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(reversed(node.value))
            elif isinstance(node, yaml.MappingNode):
                for key, value in reversed(node.value):
                    stack.extend((value, key))
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None
