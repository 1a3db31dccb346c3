"""`?normalize=true` for JSON Schema and Protobuf, against the expected strings of Confluent's own tests
(ProtobufSchemaTest.testNormalization and testRanges, adapted where protoc refuses the original:
reserved numbers in use, jstype on int32, open enums not starting at 0, `(confluent.field_meta)` used
without importing confluent/meta.proto; and where a compiled descriptor cannot say what the text
said: an explicit `json_name` equal to protoc's default is left out)."""

from __future__ import annotations

from riverlog.schema.json_schema import JsonSchema
from riverlog.schema.protobuf import ProtobufSchema


def test_json_schema_normalized_sorts_every_object() -> None:
    text = '{"type":"object","properties":{"b":{"type":"string","maxLength":3},"a":{"type":"integer"}},"additionalProperties":false}'
    assert JsonSchema(text).normalized_text() == (
        '{"additionalProperties":false,"properties":{"a":{"type":"integer"},'
        '"b":{"maxLength":3,"type":"string"}},"type":"object"}'
    )
    # arrays keep their order
    assert JsonSchema('{"enum":["z","a"],"type":"string"}').normalized_text() == (
        '{"enum":["z","a"],"type":"string"}'
    )


SOURCE = """syntax = "proto3";
package my.package;

import "google/protobuf/timestamp.proto";
import "confluent/type/decimal.proto";
import "confluent/meta.proto";
import "google/protobuf/duration.proto";

option java_package = "my.package";
option java_outer_classname = "Outer";
option java_multiple_files = true;
option java_string_check_utf8 = true;
option optimize_for = CODE_SIZE;
option go_package = "go.package";
option cc_generic_services = false;
option java_generic_services = true;
option py_generic_services = false;
option cc_enable_arenas = true;
option objc_class_prefix = "objc";
option csharp_namespace = "csharp";
option swift_prefix = "swift";
option php_class_prefix = "php";
option php_namespace = "php_ns";
option php_metadata_namespace = "php_md_ns";
option ruby_package = "ruby";

message Nested {
  confluent.type.Decimal test_cflt_decimal = 1 [(confluent.field_meta) = {
    params: [
      {
        value: "8",
        key: "precision"
      },
      {
        value: "3",
        key: "scale"
      }
    ],
    doc: "test decimal"
  }];
  google.protobuf.Duration test_duration = 9;
  google.protobuf.Timestamp test_timestamp = 2;
  map<string, InnerMessage> test_map = 3;

  message InnerMessage {
    reserved "foo", "bar";
    reserved 14, 15, 8 to 9;
    reserved 16, 20, 29 to 31;

    option no_standard_descriptor_accessor = true;
    option deprecated = true;

    InnerMessage.DeepMessage deep2 = 4;
    Nested.InnerMessage.DeepMessage deep3 = 5;
    my.package.Nested.InnerMessage.DeepMessage deep4 = 6;
    .my.package.Nested.InnerMessage.DeepMessage deep5 = 7;
    string id = 1;
    repeated int32 ids = 2 [packed = true];
    DeepMessage deep1 = 3;

    oneof some_val {
      string one_id = 12;
      int32 other_id = 11;
    }
    oneof some_val2 {
      string one_id2 = 13;
      int64 other_id2 = 10 [
        deprecated = true,
        ctype = CORD,
        jstype = JS_STRING
      ];
    }

    message DeepMessage {
      string id = 1;
    }
    enum InnerEnum {
      reserved 100 to 110;
      option allow_alias = true;
      ZERO = 0 [deprecated = true];
      TWO = 2;
      ONE = 1;
      ALSO_ZERO = 0;
    }
  }
}
enum Status {
  UNKNOWN = 0;
  INACTIVE = 2;
  ACTIVE = 1;
}

service MyService {
  option deprecated = true;

  rpc MyMethod2 (stream Nested) returns (Nested.InnerMessage);
  rpc MyMethod1 (Nested.InnerMessage) returns (stream Nested) {
    option idempotency_level = NO_SIDE_EFFECTS;
    option deprecated = true;
  };
}
"""

NORMALIZED = """syntax = "proto3";
package my.package;

import "confluent/meta.proto";
import "confluent/type/decimal.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";

option cc_enable_arenas = true;
option cc_generic_services = false;
option csharp_namespace = "csharp";
option go_package = "go.package";
option java_generic_services = true;
option java_multiple_files = true;
option java_outer_classname = "Outer";
option java_package = "my.package";
option java_string_check_utf8 = true;
option objc_class_prefix = "objc";
option optimize_for = CODE_SIZE;
option php_class_prefix = "php";
option php_metadata_namespace = "php_md_ns";
option php_namespace = "php_ns";
option py_generic_services = false;
option ruby_package = "ruby";
option swift_prefix = "swift";

message Nested {
  .confluent.type.Decimal test_cflt_decimal = 1 [(confluent.field_meta) = {
    doc: "test decimal",
    params: [
      {
        key: "precision",
        value: "8"
      },
      {
        key: "scale",
        value: "3"
      }
    ]
  }];
  .google.protobuf.Timestamp test_timestamp = 2;
  map<string, .my.package.Nested.InnerMessage> test_map = 3;
  .google.protobuf.Duration test_duration = 9;

  message InnerMessage {
    reserved 8 to 9;
    reserved 14;
    reserved 15;
    reserved 16;
    reserved 20;
    reserved 29 to 31;
    reserved "bar";
    reserved "foo";
{BLANK}
    option deprecated = true;
    option no_standard_descriptor_accessor = true;
{BLANK}
    string id = 1;
    repeated int32 ids = 2 [packed = true];
    .my.package.Nested.InnerMessage.DeepMessage deep1 = 3;
    .my.package.Nested.InnerMessage.DeepMessage deep2 = 4;
    .my.package.Nested.InnerMessage.DeepMessage deep3 = 5;
    .my.package.Nested.InnerMessage.DeepMessage deep4 = 6;
    .my.package.Nested.InnerMessage.DeepMessage deep5 = 7;
{BLANK}
    oneof some_val2 {
      int64 other_id2 = 10 [
        ctype = CORD,
        deprecated = true,
        jstype = JS_STRING
      ];
      string one_id2 = 13;
    }
    oneof some_val {
      int32 other_id = 11;
      string one_id = 12;
    }
{BLANK}
    message DeepMessage {
      string id = 1;
    }
    enum InnerEnum {
      reserved 100 to 110;
      option allow_alias = true;
      ALSO_ZERO = 0;
      ZERO = 0 [deprecated = true];
      ONE = 1;
      TWO = 2;
    }
  }
}
enum Status {
  UNKNOWN = 0;
  ACTIVE = 1;
  INACTIVE = 2;
}

service MyService {
  option deprecated = true;

  rpc MyMethod2 (stream .my.package.Nested) returns (.my.package.Nested.InnerMessage);
  rpc MyMethod1 (.my.package.Nested.InnerMessage) returns (stream .my.package.Nested) {
    option deprecated = true;
    option idempotency_level = NO_SIDE_EFFECTS;
  };
}
"""


NORMALIZED = NORMALIZED.replace("{BLANK}", "  ")  # Confluent indents blank lines of nested messages


def test_protobuf_normalization_as_confluent() -> None:
    schema = ProtobufSchema(SOURCE)
    assert schema.normalized_text() == NORMALIZED
    # normalizing the normalized form changes nothing, and a descriptor gives the same text
    assert ProtobufSchema(NORMALIZED).normalized_text() == NORMALIZED
    assert ProtobufSchema(schema.serialized()).normalized_text() == NORMALIZED


def test_protobuf_normalized_ranges_proto2() -> None:
    source = """
message Money {
  reserved 5000 to 6000;
  reserved 10000 to 10001;
  reserved 20000 to 20000;

  optional int64 cents = 1;

  extensions 100 to 200;
  extensions 1000 to 1001;
  extensions 2000 to 2000;

  enum MoneyEnum {
    reserved 100 to 200;
    reserved 1000 to 1001;
    reserved 2000 to 2000;
    NONE = 0;
    CENTS = 1;
    DOLLARS = 2;
  }
}
"""
    assert ProtobufSchema(source).normalized_text() == (
        "\nmessage Money {\n"
        "  reserved 5000 to 6000;\n"
        "  reserved 10000 to 10001;\n"
        "  reserved 20000;\n"
        "\n"
        "  optional int64 cents = 1;\n"
        "\n"
        "  extensions 100 to 200;\n"
        "  extensions 1000 to 1001;\n"
        "  extensions 2000;\n"
        "\n"
        "  enum MoneyEnum {\n"
        "    reserved 100 to 200;\n"
        "    reserved 1000 to 1001;\n"
        "    reserved 2000;\n"
        "    NONE = 0;\n"
        "    CENTS = 1;\n"
        "    DOLLARS = 2;\n"
        "  }\n"
        "}\n"
    )


def test_protobuf_field_order_and_layout_do_not_matter_once_normalized() -> None:
    a = 'syntax = "proto3";\nmessage M { string b = 2; int64 a = 1; optional bool c = 3; }\n'
    b = 'syntax = "proto3";\n\nmessage M {\n  int64 a = 1;\n  string b = 2;\n  optional bool c = 3;\n}\n'
    assert (
        ProtobufSchema(a).normalized_text()
        == ProtobufSchema(b).normalized_text()
        == (
            'syntax = "proto3";\n\nmessage M {\n  int64 a = 1;\n  string b = 2;\n  optional bool c = 3;\n}\n'
        )
    )


EXTENSIONS_SOURCE = """package my.package;

message ExtendedDummy {
    // just to namespace the extensions
    extend Extended {
        optional string extension_normal2 = 101;
        optional string extension_normal = 100;
    }

    message Nested {
        // but these are to test insane but legit definitions
        extend package.Extended {
            optional string extension_identifier2 = 103;
            optional string extension_identifier = 102;
        }
        message Oh {
            extend my.package.Extended {
                optional string extension_vault_replace2 = 105;
                optional string extension_vault_replace = 104;
            }
            message My {
                extend .my.package.Extended {
                    optional string extension_fidelius_token2 = 107;
                    optional string extension_fidelius_token = 106;
                }
                message God {
                    extend Extended.NestedExtended {
                        optional string extension_nested_entity2 = 109;
                        optional string extension_nested_entity = 108;
                    }
                    extend my.package.Extended.NestedExtended {
                        optional string extension_nested_again2 = 111;
                        optional string extension_nested_again = 110;
                    }
                }
            }
        }
    }
}

message Extended {
    optional string vaulted_data = 1;
    optional string field_normal = 2;
    extensions 100 to 199;

    message NestedExtended {
        optional string vaulted_data = 1;
        optional string field_normal = 2;
        optional string field_vault_replace = 3;
        extensions 100 to 199;
        extend NestedExtended {
            optional string extension_nested_trouble2 = 113;
            optional string extension_nested_trouble = 112;
        }
    }
}
"""

EXTENSIONS_NORMALIZED = (
    """package my.package;

message ExtendedDummy {
  extend .my.package.Extended {
    optional string extension_normal = 100;
    optional string extension_normal2 = 101;
  }

  message Nested {
    extend .my.package.Extended {
      optional string extension_identifier = 102;
      optional string extension_identifier2 = 103;
    }
{BLANK}
    message Oh {
      extend .my.package.Extended {
        optional string extension_vault_replace = 104;
        optional string extension_vault_replace2 = 105;
      }
{BLANK2}
      message My {
        extend .my.package.Extended {
          optional string extension_fidelius_token = 106;
          optional string extension_fidelius_token2 = 107;
        }
{BLANK3}
        message God {
          extend .my.package.Extended.NestedExtended {
            optional string extension_nested_entity = 108;
            optional string extension_nested_entity2 = 109;
            optional string extension_nested_again = 110;
            optional string extension_nested_again2 = 111;
          }
        }
      }
    }
  }
}
message Extended {
  optional string vaulted_data = 1;
  optional string field_normal = 2;

  extensions 100 to 199;

  message NestedExtended {
    optional string vaulted_data = 1;
    optional string field_normal = 2;
    optional string field_vault_replace = 3;
{BLANK}
    extensions 100 to 199;
{BLANK}
    extend .my.package.Extended.NestedExtended {
      optional string extension_nested_trouble = 112;
      optional string extension_nested_trouble2 = 113;
    }
  }
}
""".replace("{BLANK3}", "      ")
    .replace("{BLANK2}", "    ")
    .replace("{BLANK}", "  ")
)


def test_protobuf_normalization_with_extensions_as_confluent() -> None:
    """ProtobufSchemaTest.testNormalizationWithExtensions: extend blocks grouped by the resolved
    extended type, their fields by tag, before the nested types."""
    schema = ProtobufSchema(EXTENSIONS_SOURCE)
    assert schema.normalized_text() == EXTENSIONS_NORMALIZED
    assert ProtobufSchema(schema.serialized()).normalized_text() == EXTENSIONS_NORMALIZED
