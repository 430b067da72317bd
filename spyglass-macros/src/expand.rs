//! Generates the instrumented function bodies.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, ImplItem, ImplItemFn, Item, ReturnType, Signature, Type};

use crate::attr::Args;

pub(crate) fn expand(args: Args, item: TokenStream) -> syn::Result<TokenStream> {
    let item: Item = syn::parse2(item).map_err(|e| {
        syn::Error::new(
            e.span(),
            "#[spyglass::instrument] goes on a function, a method or an `impl` block",
        )
    })?;
    match item {
        Item::Fn(mut f) => {
            if args.skip {
                return Err(syn::Error::new(
                    f.sig.ident.span(),
                    "`skip` only applies to methods inside an instrumented `impl` block",
                ));
            }
            let name = args
                .name
                .map(|l| l.value())
                .unwrap_or_else(|| f.sig.ident.to_string());
            *f.block = instrument_block(&f.sig, &f.block, &name)?;
            Ok(quote!(#f))
        }
        Item::Impl(mut imp) => {
            if args.name.is_some() || args.skip {
                return Err(syn::Error::new(
                    imp.impl_token.span(),
                    "`name` and `skip` go on single methods, not on an `impl` block",
                ));
            }
            let type_name = type_name(&imp.self_ty);
            for it in imp.items.iter_mut() {
                if let ImplItem::Fn(m) = it {
                    instrument_method(m, &type_name)?;
                }
            }
            Ok(quote!(#imp))
        }
        Item::Trait(t) => Err(syn::Error::new(
            t.ident.span(),
            "#[spyglass::instrument] cannot go on a trait: put it on the `impl` block or the methods",
        )),
        other => Err(syn::Error::new(
            other.span(),
            "#[spyglass::instrument] goes on a function, a method or an `impl` block",
        )),
    }
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_else(|| "_".into()),
        _ => quote!(#ty).to_string().replace(' ', ""),
    }
}

fn instrument_method(m: &mut ImplItemFn, type_name: &str) -> syn::Result<()> {
    // Methods may carry their own #[instrument(...)] (for `name` or `skip`).
    let mut args = Args::default();
    let mut keep = Vec::new();
    for a in m.attrs.drain(..) {
        let is_ours = a
            .path()
            .segments
            .last()
            .is_some_and(|s| s.ident == "instrument");
        if is_ours {
            args = match &a.meta {
                syn::Meta::Path(_) => Args::default(),
                _ => a.parse_args::<Args>()?,
            };
        } else {
            keep.push(a);
        }
    }
    m.attrs = keep;
    if args.skip {
        return Ok(());
    }
    let name = args
        .name
        .map(|l| l.value())
        .unwrap_or_else(|| format!("{type_name}::{}", m.sig.ident));
    m.block = instrument_block(&m.sig, &m.block, &name)?;
    Ok(())
}

/// Whether the declared return type is a `Result` (by its last path segment, so `io::Result<T>` and
/// `anyhow::Result<T>` count).
fn returns_result(sig: &Signature) -> bool {
    match &sig.output {
        ReturnType::Type(_, ty) => match &**ty {
            Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
            _ => false,
        },
        ReturnType::Default => false,
    }
}

fn instrument_block(sig: &Signature, block: &Block, name: &str) -> syn::Result<Block> {
    if sig.constness.is_some() {
        return Err(syn::Error::new(
            sig.constness.span(),
            "#[spyglass::instrument] cannot time a `const fn`",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "#[spyglass::instrument] cannot go on a variadic function",
        ));
    }
    let rt = quote!(::spyglass::__private);
    let span = block.span();
    let callsite = quote_spanned! {span=>
        static __SPYGLASS_CALLSITE: #rt::Callsite = #rt::Callsite::new(#name, ::core::module_path!());
    };
    let classify_expr = |out: TokenStream| {
        if returns_result(sig) {
            quote! {
                match #out {
                    ::core::result::Result::Err(__spyglass_e) => {
                        #[allow(unused_imports)]
                        use #rt::{ViaDisplay as _, ViaNothing as _};
                        (true, (&&#rt::ErrText(__spyglass_e)).spyglass_error_text())
                    }
                    ::core::result::Result::Ok(_) => (false, ::core::option::Option::None),
                }
            }
        } else {
            quote! { (false, ::core::option::Option::None) }
        }
    };
    let stmts = &block.stmts;
    // `let x: impl Trait` is not allowed: leave such types to inference.
    let ret_ty = match &sig.output {
        ReturnType::Default => Some(quote!(())),
        ReturnType::Type(_, t) if quote!(#t).to_string().contains("impl ") => None,
        ReturnType::Type(_, t) => Some(quote!(#t)),
    };
    let annot = ret_ty.as_ref().map(|t| quote!(: #t));
    let body = if sig.asyncness.is_some() {
        let classify = classify_expr(quote!(__spyglass_out));
        quote_spanned! {span=>
            {
                #callsite
                #rt::enter_async(
                    &__SPYGLASS_CALLSITE,
                    async move { let __spyglass_ret #annot = { #(#stmts)* }; __spyglass_ret },
                    |__spyglass_out| #classify,
                )
                .await
            }
        }
    } else {
        let classify = classify_expr(quote!(&__spyglass_ret));
        let closure_ret = ret_ty.as_ref().map(|t| quote!(-> #t));
        quote_spanned! {span=>
            {
                #callsite
                let __spyglass_call = #rt::enter(&__SPYGLASS_CALLSITE);
                // Called through an `FnOnce` bound so the body may return borrows of its arguments.
                let __spyglass_ret #annot = #rt::call_once(move || #closure_ret { #(#stmts)* });
                let (__spyglass_err, __spyglass_text) = #classify;
                __spyglass_call.finish(__spyglass_err, __spyglass_text);
                __spyglass_ret
            }
        }
    };
    syn::parse2(body)
}
