"""The grammar of the query language, for lark's LALR(1) parser (docs/query.md has the table).

Precedence, loosest first: `|` (pipeline) < `||` < `&&` < `>` / `>>` (structural) between
spansets, and `||` < `&&` < comparison inside `{ }`. Keywords (`status`, `ok`, `server`,
`count`...) are plain NAME tokens given meaning by the parser module, so its messages can say
"unknown intrinsic" instead of lark's list of terminals.
"""

from __future__ import annotations

from functools import cache

from lark import Lark

GRAMMAR = r"""
start: set_or stage*

?set_or: set_and (_OR set_and)*
?set_and: set_struct (_AND set_struct)*
?set_struct: set_atom ((GT | DESC) set_atom)*
?set_atom: spanset
         | LPAR set_or stage* RPAR           -> group
         | ORDER_FIELD compare_op value      -> order_field
         | ORDER_DWELL LPAR NAME RPAR compare_op value -> order_dwell

spanset: LBRACE cond_or? RBRACE
?cond_or: cond_and (_OR cond_and)*
?cond_and: cond_atom (_AND cond_atom)*
?cond_atom: field compare_op value           -> comparison
          | LPAR cond_or RPAR

stage: PIPE NAME LPAR field? RPAR compare_op value

field: ATTRIBUTE | NAME
value: STRING | RAW_STRING | NUMBER | DURATION | NAME
compare_op: EQ | NE | GT | GE | LT | LE | MATCH | NOT_MATCH

LBRACE: "{"
RBRACE: "}"
LPAR: "("
RPAR: ")"
_OR: "||"
_AND: "&&"
PIPE: "|"
DESC: ">>"
EQ: "="
NE: "!="
GT: ">"
GE: ">="
LT: "<"
LE: "<="
MATCH: "=~"
NOT_MATCH: "!~"

ORDER_DWELL.4: /order\.dwell(?=\s*\()/
ORDER_FIELD.3: /order\.[A-Za-z_][A-Za-z0-9_]*/
ATTRIBUTE.2: /(?:span|resource)?\.(?:[A-Za-z0-9_][A-Za-z0-9_.\-\/:]*|"(?:[^"\\\n]|\\.)*")/
DURATION.2: /(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|µs|ms|s|m|h|d))+(?![A-Za-z0-9_])/
NUMBER: /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?(?![A-Za-z0-9_])/
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"(?:[^"\\\n]|\\.)*"/
RAW_STRING: /`[^`]*`/

%ignore /\s+/
"""


@cache
def parser() -> Lark:
    """The LALR parser, built once (a few milliseconds). It builds lark's own tree; the parser
    module turns that into explorer.query.nodes without recursion (parser._Builder)."""
    return Lark(GRAMMAR, parser="lalr", lexer="basic", propagate_positions=False)
