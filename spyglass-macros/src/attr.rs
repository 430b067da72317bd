//! Parses `#[instrument(...)]` arguments.

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// Parsed arguments.
#[derive(Default)]
pub(crate) struct Args {
    /// `name = "..."`: the recorded name instead of the function's.
    pub(crate) name: Option<LitStr>,
    /// `skip`: leave this method out (inside an instrumented `impl` block).
    pub(crate) skip: bool,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            match key.to_string().as_str() {
                "name" => {
                    input.parse::<Token![=]>()?;
                    let lit: LitStr = input.parse()?;
                    if lit.value().trim().is_empty() {
                        return Err(syn::Error::new(lit.span(), "`name` must not be empty"));
                    }
                    if args.name.replace(lit).is_some() {
                        return Err(syn::Error::new(key.span(), "`name` given twice"));
                    }
                }
                "skip" => args.skip = true,
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown argument `{other}`: #[spyglass::instrument] accepts `name = \"...\"` and `skip`"
                        ),
                    ))
                }
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

pub(crate) fn parse_args(ts: TokenStream) -> syn::Result<Args> {
    syn::parse2(ts)
}
