"""The ksqlDB grammar as a lark LALR grammar.

Written from the productions of ksqlDB's `SqlBase.g4` (statement forms, expression precedence,
window and join clauses, non-reserved keywords); the text here is our own. Keywords are
case-insensitive; unquoted identifiers are upper-cased by the parser, back-quoted and double-quoted
ones keep their case. The contextual lexer lets a keyword serve as an identifier wherever the
grammar does not expect that keyword (ksqlDB's `nonReserved`).
"""

GRAMMAR = r"""
?start: statements

statements: (statement? ";")* statement?

?statement: query_statement
    | list_properties | list_topics | list_streams | list_tables | list_functions | list_types
    | list_queries | list_variables | list_connectors
    | describe_source | describe_streams | describe_function | describe_connector
    | print_topic | terminate_query | pause_query | resume_query
    | set_property | unset_property | define_variable | undefine_variable
    | create_stream | create_stream_as | create_table | create_table_as
    | create_type | drop_type | insert_into | insert_values
    | drop_stream | drop_table | drop_connector | create_connector
    | explain | run_script | alter_source | assert_topic | assert_schema

query_statement: query

show: SHOW | LIST
list_properties: show PROPERTIES
list_topics: show ALL? TOPICS EXTENDED?
list_streams: show STREAMS EXTENDED?
list_tables: show TABLES EXTENDED?
list_functions: show FUNCTIONS
list_types: show TYPES
list_queries: show QUERIES EXTENDED?
list_variables: show VARIABLES
list_connectors: show (SOURCE | SINK)? CONNECTORS

describe_source: DESCRIBE source_name EXTENDED?
describe_streams: DESCRIBE (STREAMS | TABLES) EXTENDED?
describe_function: DESCRIBE FUNCTION identifier
describe_connector: DESCRIBE CONNECTOR identifier

print_topic: PRINT (identifier | STRING) print_clause
print_clause: from_beginning? interval_clause? limit_clause?
from_beginning: FROM BEGINNING
interval_clause: (INTERVAL | SAMPLE) INTEGER_VALUE

terminate_query: TERMINATE (identifier | ALL)
pause_query: PAUSE (identifier | ALL)
resume_query: RESUME (identifier | ALL)

set_property: SET STRING EQ STRING
unset_property: UNSET STRING
define_variable: DEFINE identifier EQ STRING
undefine_variable: UNDEFINE identifier

create_stream: CREATE or_replace? SOURCE? STREAM if_not_exists? source_name table_elements? with_props?
create_stream_as: CREATE or_replace? STREAM if_not_exists? source_name with_props? AS query
create_table: CREATE or_replace? SOURCE? TABLE if_not_exists? source_name table_elements? with_props?
create_table_as: CREATE or_replace? TABLE if_not_exists? source_name with_props? AS query
create_connector: CREATE (SOURCE | SINK) CONNECTOR if_not_exists? identifier with_props
create_type: CREATE TYPE if_not_exists? identifier AS type
insert_into: INSERT INTO source_name with_props? query
insert_values: INSERT INTO source_name column_list? VALUES values
column_list: "(" identifier ("," identifier)* ")"
values: "(" (expression ("," expression)*)? ")"
drop_stream: DROP STREAM if_exists? source_name delete_topic?
drop_table: DROP TABLE if_exists? source_name delete_topic?
drop_connector: DROP CONNECTOR if_exists? identifier
drop_type: DROP TYPE if_exists? identifier
delete_topic: DELETE TOPIC
explain: EXPLAIN (explainable | identifier)
?explainable: query_statement | create_stream_as | create_table_as | insert_into
run_script: RUN SCRIPT STRING

alter_source: ALTER (STREAM | TABLE) source_name alter_option ("," alter_option)*
alter_option: ADD COLUMN? identifier type
assert_topic: ASSERT assert_not_exists? TOPIC resource_name with_props? assert_timeout?
assert_schema: ASSERT assert_not_exists? SCHEMA assert_subject? assert_id? assert_timeout?
assert_not_exists: NOT EXISTS
assert_subject: SUBJECT resource_name
assert_id: ID INTEGER_VALUE
assert_timeout: TIMEOUT duration
resource_name: identifier | STRING

or_replace: OR REPLACE
if_not_exists: IF NOT EXISTS
if_exists: IF EXISTS

table_elements: "(" table_element ("," table_element)* ")"
table_element: identifier type column_constraint?
column_constraint: PRIMARY KEY -> primary_key
    | KEY -> key
    | HEADERS -> headers
    | HEADER "(" STRING ")" -> header

with_props: WITH "(" table_property ("," table_property)* ")"
table_property: (identifier | STRING) EQ literal

// ---- queries ---------------------------------------------------------------------------
query: SELECT select_item ("," select_item)* FROM relation window_clause? where_clause? group_by? partition_by? having? emit? limit_clause?
window_clause: WINDOW window_expression
where_clause: WHERE boolean_expression
group_by: GROUP BY group_items
group_items: value_expression ("," value_expression)* | "(" value_expression ("," value_expression)* ")"
partition_by: PARTITION BY value_expression ("," value_expression)*
having: HAVING boolean_expression
emit: EMIT (CHANGES | FINAL)
limit_clause: LIMIT INTEGER_VALUE

select_item: expression (AS? identifier)?  -> select_single
    | identifier "." ASTERISK -> select_all_of
    | ASTERISK -> select_all

window_expression: identifier? (tumbling | hopping | session)
tumbling: TUMBLING "(" SIZE duration window_options ")"
hopping: HOPPING "(" SIZE duration "," ADVANCE BY duration window_options ")"
session: SESSION "(" duration window_options ")"
window_options: ("," (retention | grace_period))*
retention: RETENTION duration
grace_period: GRACE PERIOD duration
duration: number time_unit
time_unit: DAY | HOUR | MINUTE | SECOND | MILLISECOND | DAYS | HOURS | MINUTES | SECONDS | MILLISECONDS

relation: aliased_relation joined_source*
joined_source: join_type JOIN aliased_relation join_window? ON boolean_expression
join_type: INNER? -> inner
    | LEFT OUTER? -> left
    | RIGHT OUTER? -> right
    | FULL OUTER? -> full
join_window: WITHIN (duration | "(" duration "," duration ")") grace_period?
aliased_relation: source_name (AS? identifier)?

// ---- expressions (ksqlDB's precedence) ------------------------------------------------
?expression: boolean_expression

?boolean_expression: or_expr
?or_expr: and_expr | or_expr OR and_expr -> or_
?and_expr: not_expr | and_expr AND not_expr -> and_
?not_expr: predicated | NOT not_expr -> not_

?predicated: value_expression
    | value_expression comparison_operator value_expression -> comparison
    | value_expression NOT? BETWEEN value_expression AND value_expression -> between
    | value_expression NOT? IN "(" expression ("," expression)* ")" -> in_list
    | value_expression NOT? LIKE value_expression (ESCAPE STRING)? -> like
    | value_expression IS NOT? NULL -> is_null
    | value_expression IS NOT? DISTINCT FROM value_expression -> is_distinct

!comparison_operator: EQ | NEQ | "<" | "<=" | ">" | ">="

?value_expression: concat_expr
?concat_expr: additive | concat_expr "||" additive -> concat
?additive: multiplicative | additive ADD_OP multiplicative -> arith
?multiplicative: unary | multiplicative MUL_OP unary -> arith
?unary: postfix | ADD_OP unary -> unary_op

?postfix: primary
    | postfix "[" value_expression "]" -> subscript
    | postfix "->" identifier -> dereference

?primary: literal
    | qualified_column
    | function_call
    | CAST "(" expression AS type ")" -> cast
    | case_expression
    | ARRAY "[" (expression ("," expression)*)? "]" -> array_ctor
    | MAP "(" (map_entry ("," map_entry)*)? ")" -> map_ctor
    | STRUCT "(" (struct_field ("," struct_field)*)? ")" -> struct_ctor
    | "(" expression ")"
    | lambda_expr

lambda_expr: identifier "=>" expression
    | "(" identifier ("," identifier)+ ")" "=>" expression
    | "(" ")" "=>" expression

qualified_column: identifier ("." identifier)?
function_call: identifier "(" ASTERISK ")" -> function_star
    | identifier "(" (function_arg ("," function_arg)*)? ")" -> function_call
?function_arg: expression

map_entry: expression ":=" expression
struct_field: identifier ":=" expression

case_expression: CASE value_expression when_clause+ else_clause? END -> simple_case
    | CASE when_clause+ else_clause? END -> searched_case
when_clause: WHEN expression THEN expression
else_clause: ELSE expression

?literal: NULL -> null
    | TRUE -> true
    | FALSE -> false
    | number
    | STRING -> string
    | VARIABLE -> variable

?number: INTEGER_VALUE -> integer
    | DECIMAL_VALUE -> decimal
    | FLOATING_POINT_VALUE -> floating

// ---- types ------------------------------------------------------------------------------
type: ARRAY "<" type ">" -> array_type
    | MAP "<" type "," type ">" -> map_type
    | STRUCT "<" (struct_type_field ("," struct_type_field)*)? ">" -> struct_type
    | identifier ("(" INTEGER_VALUE ("," INTEGER_VALUE)? ")")? -> base_type
struct_type_field: identifier type

// ---- names ------------------------------------------------------------------------------
source_name: identifier
identifier: IDENTIFIER -> ident
    | QUOTED_IDENTIFIER -> quoted_ident
    | BACKQUOTED_IDENTIFIER -> backquoted_ident
    | DIGIT_IDENTIFIER -> ident

// ---- tokens -----------------------------------------------------------------------------
EQ: "="
NEQ: "<>" | "!="
ADD_OP: "+" | "-"
MUL_OP: "*" | "/" | "%"
ASTERISK.2: "*"

STRING: /'(?:[^']|'')*'/
VARIABLE.2: /\$\{[A-Za-z_][A-Za-z0-9_]*\}/
INTEGER_VALUE: /[0-9]+/
DECIMAL_VALUE: /[0-9]+\.[0-9]*|\.[0-9]+/
FLOATING_POINT_VALUE: /([0-9]+(\.[0-9]*)?|\.[0-9]+)E[+-]?[0-9]+/i
IDENTIFIER: /(?!\d)[A-Za-z_@$0-9][A-Za-z0-9_@:$]*/
DIGIT_IDENTIFIER: /[0-9][A-Za-z0-9_@:$]*[A-Za-z_@:$][A-Za-z0-9_@:$]*/
QUOTED_IDENTIFIER: /"(?:[^"]|"")*"/
BACKQUOTED_IDENTIFIER: /`(?:[^`]|``)*`/

SIMPLE_COMMENT: /--[^\n]*/
BRACKETED_COMMENT: /\/\*(.|\n)*?\*\//
%ignore SIMPLE_COMMENT
%ignore BRACKETED_COMMENT
%import common.WS
%ignore WS
"""

KEYWORDS = [
    "SELECT",
    "FROM",
    "AS",
    "ALL",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "LIMIT",
    "OR",
    "AND",
    "IN",
    "NOT",
    "EXISTS",
    "BETWEEN",
    "LIKE",
    "ESCAPE",
    "IS",
    "NULL",
    "TRUE",
    "FALSE",
    "INTEGER",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "INTERVAL",
    "YEAR",
    "MONTH",
    "DAY",
    "HOUR",
    "MINUTE",
    "SECOND",
    "MILLISECOND",
    "YEARS",
    "MONTHS",
    "DAYS",
    "HOURS",
    "MINUTES",
    "SECONDS",
    "MILLISECONDS",
    "ZONE",
    "TUMBLING",
    "HOPPING",
    "SIZE",
    "ADVANCE",
    "RETENTION",
    "GRACE",
    "PERIOD",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "JOIN",
    "FULL",
    "OUTER",
    "INNER",
    "LEFT",
    "RIGHT",
    "ON",
    "PARTITION",
    "STRUCT",
    "WITH",
    "VALUES",
    "CREATE",
    "TABLE",
    "TOPIC",
    "STREAM",
    "STREAMS",
    "INSERT",
    "DESCRIBE",
    "EXTENDED",
    "INTO",
    "SHOW",
    "LIST",
    "TABLES",
    "TOPICS",
    "QUERY",
    "QUERIES",
    "TERMINATE",
    "PAUSE",
    "RESUME",
    "LOAD",
    "COLUMNS",
    "COLUMN",
    "PARTITIONS",
    "FUNCTIONS",
    "FUNCTION",
    "DROP",
    "TO",
    "RENAME",
    "ARRAY",
    "MAP",
    "SET",
    "DEFINE",
    "UNDEFINE",
    "RESET",
    "SESSION",
    "SAMPLE",
    "EXPLAIN",
    "FORMAT",
    "TYPE",
    "TYPES",
    "CAST",
    "SHOW",
    "PRINT",
    "BEGINNING",
    "UNSET",
    "RUN",
    "SCRIPT",
    "DECIMAL",
    "KEY",
    "CONNECTOR",
    "CONNECTORS",
    "SINK",
    "SOURCE",
    "PRIMARY",
    "REPLACE",
    "ASSERT",
    "ADD",
    "ALTER",
    "VARIABLES",
    "PLUGINS",
    "HEADERS",
    "HEADER",
    "SYSTEM",
    "IF",
    "EMIT",
    "CHANGES",
    "FINAL",
    "WITHIN",
    "DELETE",
    "DISTINCT",
    "PROPERTIES",
    "ANALYZE",
    "WINDOW",
    "SCHEMA",
    "SUBJECT",
    "ID",
    "TIMEOUT",
]

_USED = sorted(set(KEYWORDS))


def full_grammar() -> str:
    """The grammar with one case-insensitive terminal per keyword the productions use."""
    terminals = "\n".join(f"{k}.1: /{k.lower()}\\b/i" for k in _USED)
    return GRAMMAR + "\n" + terminals + "\n"
