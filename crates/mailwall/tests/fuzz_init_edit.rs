//! A bounded fuzzer for `mailwall init`'s edit of gateway.conf, which runs as root on a file the
//! spool's owner may have written: mutations of the shipped file (and of hostile shapes: inline
//! tables, dotted keys, arrays of tables where a section is expected) with the install's keys
//! and random dotted keys set. Every run must give `Ok` or a clean `Err`, never a panic; an `Ok`
//! text must be TOML in which each key asked for holds its value, and a run that changed no key
//! must give the text back byte for byte. Deterministic: a fixed seed (`FUZZ_SEED`,
//! `FUZZ_ITERS`); failures are shrunk and reported by `testkit::fuzz::Findings`.

use mailwall::init::{edit_conf, parse_set};
use testkit::fuzz::{catch, iterations, Findings, Rng};
use toml_edit::{DocumentMut, Item, Value};

const PIECES: &[&str] = &[
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\"",
    "'",
    "#",
    "\n",
    ".",
    "{",
    "}",
    ",",
    " ",
    "\\",
    "forward",
    "relay",
    "admin",
    "domains",
    "[forward]\n",
    "[[forward]]\n",
    "forward.relay = 1\n",
    "forward = { relay = \"x\" }\n",
    "admin = { a = 1 }\n",
    "[admin]\n",
    "[forward.relay]\n",
    "domains = [\n",
    "\"\"\"",
    "é",
    "\r\n",
    "x = 1\n",
];

const KEYS: &[&str] = &[
    "admin=\"it@example.com\"",
    "hostname=\"gw.example.com\"",
    "domains=[\"example.com\", \"example.net\"]",
    "forward.relay=\"mail.internal:25\"",
    "forward.tls=\"off\"",
    "scan.max_tries=3",
    "smtpd.dns_lookups=false",
    "a.b.c=1",
    "admin.x=1",
    "forward.relay.port=25",
];

fn mutate(rng: &mut Rng, base: &str) -> String {
    let mut s: Vec<char> = base.chars().collect();
    for _ in 0..=rng.below(6) {
        let at = rng.below(s.len() + 1);
        match rng.below(3) {
            0 => s.splice(at..at, (*rng.pick(PIECES)).chars()).for_each(drop),
            1 if at < s.len() => {
                let end = (at + rng.below(40)).min(s.len());
                s.drain(at..end).for_each(drop);
            }
            _ => {
                let piece: Vec<char> = (*rng.pick(PIECES)).chars().collect();
                let end = (at + piece.len()).min(s.len());
                s.splice(at..end, piece).for_each(drop);
            }
        }
    }
    s.into_iter().collect()
}

/// The value at a dotted key of a document, written without its decor.
fn value_at(doc: &DocumentMut, key: &str) -> Option<String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let name = parts.pop()?;
    let mut t: &dyn toml_edit::TableLike = doc.as_table();
    for p in parts {
        t = t.get(p)?.as_table_like()?;
    }
    match t.get(name)? {
        Item::Value(v) => Some(bare(v)),
        _ => None,
    }
}

fn bare(v: &Value) -> String {
    let mut v = v.clone();
    v.decor_mut().clear();
    v.to_string()
}

/// One edit of `text` with `set`: Ok(true) an edit that holds every key asked for, Ok(false) a
/// clean refusal, Err the problem.
fn check_edit(text: &str, set: &[(String, Value)]) -> Result<bool, String> {
    let Ok((out, changed)) = edit_conf(text, set) else {
        return Ok(false);
    };
    let doc: DocumentMut = out
        .parse()
        .map_err(|e| format!("not TOML after the edit: {e}\n{out}"))?;
    // The last value given for a key is the one it holds, unless a later key went through it or
    // below it (a later `forward.relay` replaces the table `forward.relay.port` made).
    for (j, (k, v)) in set.iter().enumerate() {
        let overridden = set[j + 1..].iter().any(|(k2, _)| {
            k2 == k || k2.starts_with(&format!("{k}.")) || k.starts_with(&format!("{k2}."))
        });
        if !overridden && value_at(&doc, k) != Some(bare(v)) {
            return Err(format!("{k} does not hold {}\n{out}", bare(v)));
        }
    }
    if changed.is_empty() && out != text {
        return Err("nothing changed, yet the text did".into());
    }
    Ok(true)
}

#[test]
fn random_gateway_confs_give_an_edit_or_a_clean_error() {
    let shipped = include_str!("../../../etc/gateway.conf");
    let mut rng = Rng::new(0x6d61_696c_7761_6c6c, 7);
    let n = iterations(1_500);
    let (mut edited, mut refused) = (0, 0);
    let mut findings = Findings::new("fuzz_init_edit");
    for i in 0..n {
        let text = if rng.one_in(4) {
            mutate(&mut rng, "admin = \"x\"\n[forward]\nrelay = \"\"\n")
        } else {
            mutate(&mut rng, shipped)
        };
        let set: Vec<_> = (0..=rng.below(4))
            .map(|_| parse_set(rng.pick::<&str>(KEYS)).unwrap())
            .collect();
        match catch(|| check_edit(&text, &set)).and_then(|r| r) {
            Ok(true) => edited += 1,
            Ok(false) => refused += 1,
            Err(p) => {
                let check = |b: &[u8]| {
                    let t = std::str::from_utf8(b).ok()?;
                    catch(|| check_edit(t, &set)).and_then(|r| r).err()
                };
                findings.add_shown(
                    format!("iteration {i}: {p}"),
                    text.as_bytes(),
                    &check,
                    &|b| format!("{}\nset {set:?}", String::from_utf8_lossy(b)),
                );
            }
        }
    }
    findings.assert_none();
    assert!(
        edited > n / 10 && refused > 0,
        "{edited} edited, {refused} refused"
    );
}
