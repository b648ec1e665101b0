//! count-vowels for Extism: input is the tool's JSON arguments (`{"text": …}`), output the
//! result JSON `{"count":…,"total":…,"vowels":"aeiouAEIOU"}`, with a running total kept by
//! the plugin instance — the same work as the Airlock `examples/count-vowels` component.

use std::cell::Cell;

use extism_pdk::*;

thread_local! {
    static TOTAL: Cell<u64> = const { Cell::new(0) };
}

#[plugin_fn]
pub fn count_vowels(arguments: String) -> FnResult<String> {
    let mut total = TOTAL.with(Cell::get);
    let out = vowels_core::count_vowels(&mut total, &arguments)
        .map_err(|e| WithReturnCode::new(Error::msg(e), 1))?;
    TOTAL.with(|t| t.set(total));
    Ok(out)
}
