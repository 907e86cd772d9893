//! Resource arguments as kubectl reads them: `pods`, `po,svc`, `pods web db`, `pod/web svc/db`, `all`.

use anyhow::{Result, bail};
use knet_api::ResourceInfo;

/// What to fetch: one resource type, and the names asked for (empty: all of them).
#[derive(Debug)]
pub struct Request {
    /// The resource.
    pub info: &'static ResourceInfo,
    /// Names; empty means every object (that matches the selectors).
    pub names: Vec<String>,
}

fn lookup(name: &str) -> Result<Vec<&'static ResourceInfo>> {
    if name == "all" {
        return Ok(knet_api::resources()
            .iter()
            .filter(|r| r.categories.contains(&"all"))
            .collect());
    }
    match knet_api::find_by_name(name) {
        Some(info) => Ok(vec![info]),
        None => bail!(
            "the server doesn't have a resource type \"{name}\" (known types: {})",
            knet_api::resources()
                .iter()
                .map(|r| r.plural)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Parses resource arguments.
pub fn parse(args: &[String]) -> Result<Vec<Request>> {
    if args.is_empty() {
        bail!("you must specify the type of resource to get, e.g. `pods`, `svc,deploy`, `pod/web`");
    }
    let slashed = args.iter().filter(|a| a.contains('/')).count();
    let mut out: Vec<Request> = Vec::new();
    if slashed > 0 {
        if slashed != args.len() {
            bail!(
                "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'knet get pods/web' instead of 'knet get pods pods/web')"
            );
        }
        for a in args {
            let (kind, name) = a.split_once('/').unwrap_or((a.as_str(), ""));
            if name.is_empty() {
                bail!(
                    "arguments in resource/name form must have a single resource and name: {a:?}"
                );
            }
            for info in lookup(kind)? {
                match out.iter_mut().find(|r| std::ptr::eq(r.info, info)) {
                    Some(r) => r.names.push(name.to_string()),
                    None => out.push(Request {
                        info,
                        names: vec![name.to_string()],
                    }),
                }
            }
        }
        return Ok(out);
    }
    let names: Vec<String> = args[1..].to_vec();
    for kind in args[0].split(',').filter(|k| !k.is_empty()) {
        for info in lookup(kind)? {
            if !out.iter().any(|r| std::ptr::eq(r.info, info)) {
                out.push(Request {
                    info,
                    names: names.clone(),
                });
            }
        }
    }
    if out.len() > 1 && !names.is_empty() {
        bail!("names cannot be given with several resource types; use type/name for each");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn comma_separated_types_are_fetched_in_order() {
        let r = parse(&s(&["svc,endpoints"])).unwrap();
        assert_eq!(r[0].info.plural, "services");
        assert_eq!(r[1].info.plural, "endpoints");
    }

    #[test]
    fn type_slash_name_groups_names_by_type() {
        let r = parse(&s(&["pod/a", "pod/b", "deploy/web"])).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].names, vec!["a", "b"]);
        assert_eq!(r[1].info.plural, "deployments");
    }

    #[test]
    fn unknown_types_are_refused_clearly() {
        let e = parse(&s(&["widgets"])).unwrap_err().to_string();
        assert!(
            e.contains("doesn't have a resource type \"widgets\""),
            "{e}"
        );
    }

    #[test]
    fn all_expands_to_the_all_category() {
        let r = parse(&s(&["all"])).unwrap();
        assert!(r.iter().any(|x| x.info.plural == "pods"));
        assert!(r.iter().any(|x| x.info.plural == "services"));
        assert!(!r.iter().any(|x| x.info.plural == "configmaps"));
    }
}
