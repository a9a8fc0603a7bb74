"""The plain-English echo of a topic that a subscriber sees after subscribing."""

from __future__ import annotations

from bot.topics.aliases import default_table
from bot.topics.query import EXACT, WIDE, And, Node, Not, Or, Query, Term

# The echo lists at most this many other forms per term, then says "and N more".
_MAX_FORMS = 6


def term_label(term: Term) -> str:
    """How a term reads in the echo: its name plus the other forms it also matches."""
    words = " ".join(term.words)
    if term.field == "source":
        return f'source "{words}"'
    if term.field == "lang":
        return f"language {words}"
    table = default_table()
    name = table.display_name(term.words) or term.display or words
    if len(term.words) > 1 and table.display_name(term.words) is None:
        name = f'"{name}"'
    if term.mode == EXACT:
        label = f"exactly {name}"
    else:
        forms = table.forms(term.words, wide=term.mode == WIDE)
        shown = ", ".join(forms[:_MAX_FORMS])
        if len(forms) > _MAX_FORMS:
            shown += f" and {len(forms) - _MAX_FORMS} more"
        label = f"{name} (or {shown})" if forms else name
    return f"{label} in the title" if term.field == "title" else label


def _join(parts: list[str], word: str) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _phrase(node: Node, nested: bool) -> str:
    """Any node as an English phrase; nested alternatives get parentheses."""
    if isinstance(node, Term):
        return term_label(node)
    if isinstance(node, Not):
        return f"not {_phrase(node.child, True)}"
    if isinstance(node, Or):
        text = _join([_phrase(c, True) for c in node.children], "or")
        return f"({text})" if nested else f"either {text}"
    pos = [c for c in node.children if not isinstance(c, Not)]
    neg = [c.child for c in node.children if isinstance(c, Not)]
    text = _join([_phrase(c, True) for c in pos], "and")
    if neg:
        text += ", but not " + _join([_phrase(c, True) for c in neg], "or")
    return f"({text})" if nested else text


def describe(query: Query) -> str:
    """The echo a subscriber sees, e.g. 'stories that mention Pakistan (or Pakistani) and ...'."""
    root = query.root
    children = list(root.children) if isinstance(root, And) else [root]
    scopes = [c for c in children if isinstance(c, Term) and c.field in ("source", "lang")]
    rest = [c for c in children if c not in scopes]
    parts = []
    if rest:
        body = rest[0] if len(rest) == 1 else And(tuple(rest))
        parts.append("stories that mention " + _phrase(body, False))
    else:
        parts.append("all stories")
    for scope in scopes:
        parts.append(("from " if scope.field == "source" else "in ") + term_label(scope))
    return ", ".join(parts)
