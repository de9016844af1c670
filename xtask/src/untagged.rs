//! Cheaper `Deserialize` for the `oneOf` unions typify emits.
//!
//! typify turns a `oneOf` of differently typed schemas (a status that is a
//! string or an integer, URLs as an array or a string holding one) into an
//! enum with `#[serde(untagged)]`. serde deserializes an untagged enum by
//! buffering the whole value into its private `Content` tree (allocating
//! every string and map inside it) and then trying each variant against the
//! buffer in turn. docs/PERFORMANCE.md measured that as the largest cost of
//! parsing a gptimage15 status (up to 2x the hand-written floor, slower than
//! `serde_json::Value`).
//!
//! When every variant holds a value of a different JSON type, no trial is
//! needed: the JSON type alone says which variant it is. For those enums this
//! pass removes the derived `Deserialize` and emits one that asks the
//! deserializer for any value and maps each `visit_*` callback to its
//! variant, with no buffering. The `#[serde(untagged)]` attribute stays, for
//! the derived `Serialize`. Enums whose variants cannot be told apart by JSON
//! type are left exactly as typify wrote them.

use std::collections::BTreeSet;

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::punctuated::Punctuated;
use syn::{Attribute, Fields, Item, ItemEnum, Token, Type};

/// The JSON type a variant's payload is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum JsonKind {
    Bool,
    /// A whole number, into an integer type (a fraction is refused, as the
    /// untagged derive refuses it).
    Integer,
    /// Any number, into `f64`/`f32`.
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    /// Both number kinds read the same JSON values, so they conflict.
    fn reads_numbers(self) -> bool {
        matches!(self, JsonKind::Integer | JsonKind::Number)
    }

    fn described(self) -> &'static str {
        match self {
            JsonKind::Bool => "a boolean",
            JsonKind::Integer => "an integer",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        }
    }
}

/// One variant of an enum this pass rewrites.
struct Variant {
    name: syn::Ident,
    ty: Type,
    kind: JsonKind,
}

/// Rewrites, in place, every untagged enum of `file` whose variants have
/// distinct JSON types. Returns the names of the enums rewritten.
pub fn rewrite(file: &mut syn::File) -> Vec<String> {
    let structs: BTreeSet<String> = file
        .items
        .iter()
        .filter_map(|item| match item {
            Item::Struct(s) if matches!(s.fields, Fields::Named(_)) => Some(s.ident.to_string()),
            _ => None,
        })
        .collect();

    let mut rewritten = Vec::new();
    let mut items = Vec::with_capacity(file.items.len());
    for mut item in std::mem::take(&mut file.items) {
        let mut extra = None;
        if let Item::Enum(e) = &mut item
            && is_untagged(&e.attrs)
            && let Some(variants) = distinct_variants(e, &structs)
            && remove_derived_deserialize(&mut e.attrs)
        {
            extra = Some(deserialize_impl(&e.ident, &variants));
            rewritten.push(e.ident.to_string());
        }
        items.push(item);
        if let Some(tokens) = extra {
            items.push(syn::parse2(tokens).expect("the emitted impl is valid Rust"));
        }
    }
    file.items = items;
    rewritten
}

fn is_untagged(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("serde")
            && attr
                .parse_args_with(Punctuated::<syn::Meta, Token![,]>::parse_terminated)
                .is_ok_and(|metas| metas.iter().any(|m| m.path().is_ident("untagged")))
    })
}

/// The variants, when each is a one-field tuple variant of a type this pass
/// knows the JSON type of, and no two share a JSON type.
fn distinct_variants(e: &ItemEnum, structs: &BTreeSet<String>) -> Option<Vec<Variant>> {
    let mut variants: Vec<Variant> = Vec::new();
    for v in &e.variants {
        let Fields::Unnamed(fields) = &v.fields else {
            return None;
        };
        if fields.unnamed.len() != 1 {
            return None;
        }
        let ty = fields.unnamed[0].ty.clone();
        let kind = json_kind(&ty, structs)?;
        let clashes = variants.iter().any(|other| {
            other.kind == kind || (other.kind.reads_numbers() && kind.reads_numbers())
        });
        if clashes {
            return None;
        }
        variants.push(Variant {
            name: v.ident.clone(),
            ty,
            kind,
        });
    }
    (!variants.is_empty()).then_some(variants)
}

/// The JSON type `ty` is read from, for the types typify emits for scalars,
/// arrays, free-form objects and the file's own structs. `None` for anything
/// else (newtypes with constraints, string enums, nested unions...), which
/// keeps the enum untagged.
fn json_kind(ty: &Type, structs: &BTreeSet<String>) -> Option<JsonKind> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?.ident.to_string();
    Some(match last.as_str() {
        "bool" => JsonKind::Bool,
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" => JsonKind::Integer,
        "f32" | "f64" => JsonKind::Number,
        "String" => JsonKind::String,
        "Vec" => JsonKind::Array,
        "Map" => JsonKind::Object,
        name if path.path.segments.len() == 1 && structs.contains(name) => JsonKind::Object,
        _ => return None,
    })
}

/// Removes `Deserialize` from the enum's derive list; false when it was not
/// derived (nothing to replace).
fn remove_derived_deserialize(attrs: &mut [Attribute]) -> bool {
    for attr in attrs.iter_mut().filter(|a| a.path().is_ident("derive")) {
        let Ok(paths) = attr.parse_args_with(Punctuated::<syn::Path, Token![,]>::parse_terminated)
        else {
            continue;
        };
        let kept: Punctuated<syn::Path, Token![,]> = paths
            .iter()
            .filter(|p| p.segments.last().is_none_or(|s| s.ident != "Deserialize"))
            .cloned()
            .collect();
        if kept.len() != paths.len() {
            *attr = syn::parse_quote!(#[derive(#kept)]);
            return true;
        }
    }
    false
}

/// `impl Deserialize` for `name`: `deserialize_any` and one `visit_*` per
/// JSON type present.
fn deserialize_impl(name: &syn::Ident, variants: &[Variant]) -> TokenStream {
    let visitor = format_ident!("{name}Visitor");
    let expecting = expecting(variants);
    let methods = variants.iter().map(visit_methods);
    let doc = format!(
        " Reads {expecting} and picks the variant by JSON type, without buffering \
         (see `xtask/src/untagged.rs`)."
    );
    quote! {
        #[doc = #doc]
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D>(deserializer: D) -> ::std::result::Result<Self, D::Error>
            where
                D: ::serde::Deserializer<'de>,
            {
                struct #visitor;
                impl<'de> ::serde::de::Visitor<'de> for #visitor {
                    type Value = #name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(#expecting)
                    }
                    #(#methods)*
                }
                deserializer.deserialize_any(#visitor)
            }
        }
    }
}

/// "an integer or a string", in the variants' order.
fn expecting(variants: &[Variant]) -> String {
    let kinds: Vec<&str> = variants.iter().map(|v| v.kind.described()).collect();
    match kinds.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

fn visit_methods(variant: &Variant) -> TokenStream {
    let Variant { name, ty, kind } = variant;
    let error = quote!(::serde::de::Error);
    match kind {
        JsonKind::Bool => quote! {
            fn visit_bool<E: #error>(self, v: bool) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v))
            }
        },
        JsonKind::Integer => quote! {
            fn visit_i64<E: #error>(self, v: i64) -> ::std::result::Result<Self::Value, E> {
                <#ty as ::std::convert::TryFrom<i64>>::try_from(v)
                    .map(Self::Value::#name)
                    .map_err(|_| E::invalid_value(::serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_u64<E: #error>(self, v: u64) -> ::std::result::Result<Self::Value, E> {
                <#ty as ::std::convert::TryFrom<u64>>::try_from(v)
                    .map(Self::Value::#name)
                    .map_err(|_| E::invalid_value(::serde::de::Unexpected::Unsigned(v), &self))
            }
        },
        JsonKind::Number => quote! {
            fn visit_f64<E: #error>(self, v: f64) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v as #ty))
            }
            fn visit_i64<E: #error>(self, v: i64) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v as #ty))
            }
            fn visit_u64<E: #error>(self, v: u64) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v as #ty))
            }
        },
        JsonKind::String => quote! {
            fn visit_str<E: #error>(self, v: &str) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v.to_owned()))
            }
            fn visit_string<E: #error>(
                self,
                v: ::std::string::String,
            ) -> ::std::result::Result<Self::Value, E> {
                ::std::result::Result::Ok(Self::Value::#name(v))
            }
        },
        JsonKind::Array => quote! {
            fn visit_seq<A: ::serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> ::std::result::Result<Self::Value, A::Error> {
                <#ty as ::serde::Deserialize>::deserialize(
                    ::serde::de::value::SeqAccessDeserializer::new(seq),
                )
                .map(Self::Value::#name)
            }
        },
        JsonKind::Object => quote! {
            fn visit_map<A: ::serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> ::std::result::Result<Self::Value, A::Error> {
                <#ty as ::serde::Deserialize>::deserialize(
                    ::serde::de::value::MapAccessDeserializer::new(map),
                )
                .map(Self::Value::#name)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite_source(source: &str) -> (Vec<String>, String) {
        let mut file: syn::File = syn::parse_str(source).unwrap();
        let names = rewrite(&mut file);
        (names, quote!(#file).to_string())
    }

    #[test]
    fn distinct_json_types_get_a_visitor() {
        let (names, out) = rewrite_source(
            "#[derive(::serde::Deserialize, ::serde::Serialize, Clone)]
             #[serde(untagged)]
             pub enum Status { Integer(i64), String(::std::string::String) }
             pub struct Obj { pub a: i64 }
             #[derive(::serde::Deserialize, ::serde::Serialize)]
             #[serde(untagged)]
             pub enum Field { Obj(Obj), List(::std::vec::Vec<::std::string::String>), Flag(bool) }",
        );
        assert_eq!(names, vec!["Status", "Field"]);
        assert!(
            !out.contains("serde :: Deserialize , :: serde :: Serialize"),
            "{out}"
        );
        assert!(out.contains("untagged"), "Serialize still needs it: {out}");
        assert!(out.contains("impl < 'de > :: serde :: Deserialize < 'de > for Status"));
        assert!(out.contains("\"an integer or a string\""), "{out}");
        assert!(
            out.contains("\"an object, an array or a boolean\""),
            "{out}"
        );
        assert!(out.contains("MapAccessDeserializer"));
    }

    #[test]
    fn ambiguous_unions_stay_untagged() {
        let source = "#[derive(::serde::Deserialize, ::serde::Serialize)]
             #[serde(untagged)]
             pub enum TwoStrings { A(::std::string::String), B(::std::string::String) }
             #[derive(::serde::Deserialize)]
             #[serde(untagged)]
             pub enum IntOrFloat { I(i64), F(f64) }
             #[derive(::serde::Deserialize)]
             #[serde(untagged)]
             pub enum Unknown { A(SomeEnum), B(::std::string::String) }
             #[derive(::serde::Deserialize)]
             pub enum Tagged { A(i64), B(::std::string::String) }";
        let (names, out) = rewrite_source(source);
        assert!(names.is_empty(), "{names:?}");
        let untouched: syn::File = syn::parse_str(source).unwrap();
        assert_eq!(out, quote!(#untouched).to_string());
    }
}
