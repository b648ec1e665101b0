//! `calculator`: a tool plugin with the four basic operations.
//!
//! Shows typed arguments (their JSON Schema is generated from `BinaryArgs`) and a plugin
//! error with its own code (division by zero).

use airlock_sdk::prelude::*;

/// Code returned when dividing by zero.
pub const DIVISION_BY_ZERO: u32 = 1001;

/// Arguments of every operation.
#[derive(Deserialize, JsonSchema)]
struct BinaryArgs {
    /// Left operand.
    a: f64,
    /// Right operand.
    b: f64,
}

/// The result of every operation.
#[derive(Serialize)]
struct Answer {
    result: f64,
}

struct Calculator;

impl Plugin for Calculator {
    type Config = NoConfig;

    fn metadata() -> Metadata {
        Metadata::new("calculator", env!("CARGO_PKG_VERSION"))
            .author("Airlock examples")
            .description("Adds, subtracts, multiplies and divides two numbers.")
            .license("Apache-2.0")
    }

    fn init(_config: NoConfig) -> Result<Self, PluginError> {
        Ok(Calculator)
    }

    fn tools(tools: &mut Tools<Self>) {
        tools
            .tool("add", "Add two numbers: a + b", |_, x: BinaryArgs, _| {
                Ok(Answer { result: x.a + x.b })
            })
            .tool(
                "subtract",
                "Subtract two numbers: a - b",
                |_, x: BinaryArgs, _| Ok(Answer { result: x.a - x.b }),
            )
            .tool(
                "multiply",
                "Multiply two numbers: a * b",
                |_, x: BinaryArgs, _| Ok(Answer { result: x.a * x.b }),
            )
            .tool(
                "divide",
                "Divide two numbers: a / b (b must not be 0)",
                |_, x: BinaryArgs, _| {
                    if x.b == 0.0 {
                        return Err(PluginError::new(DIVISION_BY_ZERO, "division by zero"));
                    }
                    Ok(Answer { result: x.a / x.b })
                },
            );
    }
}

airlock_sdk::export_tool_plugin!(Calculator);
