// A WASI preview1 command: one JSON value on stdin, the same JSON with every string value uppercased on stdout.
use serde_json::Value;
use std::io::{self, Read, Write};

fn upper(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(s.to_uppercase()), // full Unicode: "ß" -> "SS"
        Value::Array(items) => Value::Array(items.into_iter().map(upper).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, upper(v))).collect()),
        other => other,
    }
}

fn main() {
    let mut input = String::new();
    io::stdin().read_to_string(&mut input).expect("read stdin");
    let value: Value = serde_json::from_str(&input).unwrap_or_else(|e| {
        eprintln!("invalid JSON: {e}");
        std::process::exit(1);
    });
    let mut stdout = io::stdout().lock();
    serde_json::to_writer(&mut stdout, &upper(value)).expect("write stdout");
    stdout.flush().expect("write stdout");
}
