"""The query language: a documented subset of TraceQL plus order conditions (docs/query.md).

Framework-free, like explorer.traces and explorer.analysis:

- parser.parse(text) -> nodes.Query, or parser.QueryError pointing at line and column;
- evaluate.matches(query, trace, orders=None) -> MatchResult: the brute-force reference;
- translate.to_text / to_traceql / to_jaeger: the query for people, Tempo and Jaeger.
"""
