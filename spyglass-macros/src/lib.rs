//! The `#[spyglass::instrument]` attribute. Use it through the `spyglass` crate.
//!
//! Parsing lives in the `attr` module, code generation in `expand` (the layout of `tracing-attributes`).

mod attr;
mod expand;

use proc_macro::TokenStream;

/// Times every call of a function (sync or async, free, method or generic) as a span that is a child
/// of the current trace context; the body runs inside that span, so nested instrumented calls and
/// queries nest under it. A function returning `Result` counts `Err` as an error (with the error's
/// text when it implements `Display`); a panic counts as an error too.
///
/// On an `impl` block it instruments every method that has a body.
///
/// Options: `#[instrument(name = "checkout")]` overrides the recorded name, `#[instrument(skip)]` on a
/// method inside an instrumented `impl` block leaves it out.
///
/// ```text
/// #[spyglass::instrument]
/// async fn load_user(id: u64) -> Result<User, Error> { … }
/// ```
///
/// (Compiled examples live in the `spyglass` crate's docs and its `tests/ui/pass`.)
#[proc_macro_attribute]
pub fn instrument(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = match attr::parse_args(args.into()) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    expand::expand(args, item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
