//! Reading RFC 1035 master files (§5) into records that remember their file and line.
//!
//! The tokenizer and the directive handling (`$ORIGIN`, `$TTL`, `$INCLUDE`, owner inheritance,
//! parentheses, quoting, comments) are ours, because errors must name their line and reading must
//! go on after a bad record to report every problem in one run. The RDATA of each record is read
//! by [`crate::load::rdata`], which knows every type NSD reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::Problem;
use crate::load::rdata::{self, Tok, period as parse_ttl, type_code};
use crate::wire::name::{lowercased as lower, parse as parse_name};

/// TTL of records that give none in a file without `$TTL` (NSD's default).
const DEFAULT_TTL: u32 = 3600;

/// How deep `$INCLUDE` may nest before we suspect a loop.
const MAX_INCLUDE_DEPTH: usize = 8;
/// Largest file `$INCLUDE` reads.
const MAX_INCLUDE_BYTES: u64 = 64 << 20;
/// Most bytes all the `$INCLUDE`s of one zone file read together.
const MAX_INCLUDED_TOTAL: u64 = 256 << 20;

/// One record as read from a file.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub file: Arc<Path>,
    pub line: usize,
    /// Lower-case wire-format owner name.
    pub owner: Vec<u8>,
    pub rtype: u16,
    pub ttl: u32,
    /// Wire-format RDATA (uncompressed).
    pub rdata: Box<[u8]>,
    /// The lower-case name additional-section processing follows (NS, MX, SRV).
    pub target: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
struct Token {
    text: String,
    quoted: bool,
}

/// One logical entry (a record or directive), possibly spanning lines in parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    /// The entry starts with blank space: the owner is the previous record's.
    inherits_owner: bool,
    tokens: Vec<Token>,
}

/// Splits master-file text into entries. Lexical errors are reported and the offending entry
/// skipped.
fn tokenize(text: &str, file: &Path, problems: &mut Vec<Problem>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut line = 1;
    let mut depth = 0usize;
    let mut cur: Option<Entry> = None;
    let mut tok: Option<Token> = None;
    let mut at_line_start = true;
    let mut bad = false;
    let mut chars = text.chars().peekable();

    fn flush_tok(cur: &mut Option<Entry>, tok: &mut Option<Token>, line: usize, inherits: bool) {
        if let Some(t) = tok.take() {
            cur.get_or_insert(Entry {
                line,
                inherits_owner: inherits,
                tokens: Vec::new(),
            })
            .tokens
            .push(t);
        }
    }

    let mut inherits = false;
    let mut entry_line = 1;
    while let Some(c) = chars.next() {
        if at_line_start && depth == 0 {
            inherits = c == ' ' || c == '\t';
            entry_line = line;
        }
        at_line_start = false;
        match c {
            '\n' => {
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
                if depth == 0 {
                    if let Some(e) = cur.take()
                        && !bad
                    {
                        entries.push(e);
                    }
                    bad = false;
                    at_line_start = true;
                }
                line += 1;
            }
            ';' => {
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
                while let Some(&n) = chars.peek() {
                    if n == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '(' => {
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
                depth += 1;
            }
            ')' => {
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
                if depth == 0 {
                    problems.push(Problem::new(file, line, "unbalanced ')'"));
                    bad = true;
                } else {
                    depth -= 1;
                }
            }
            '"' => {
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
                let start_line = line;
                let mut s = String::new();
                let mut closed = false;
                while let Some(n) = chars.next() {
                    match n {
                        '\\' => {
                            s.push('\\');
                            if let Some(e) = chars.next() {
                                if e == '\n' {
                                    line += 1;
                                }
                                s.push(e);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => {
                            line += 1;
                            s.push('\n');
                        }
                        _ => s.push(n),
                    }
                }
                if !closed {
                    problems.push(Problem::new(file, start_line, "unterminated quoted string"));
                    bad = true;
                }
                tok = Some(Token {
                    text: s,
                    quoted: true,
                });
                flush_tok(&mut cur, &mut tok, entry_line, inherits);
            }
            ' ' | '\t' | '\r' => flush_tok(&mut cur, &mut tok, entry_line, inherits),
            '\\' => {
                let t = tok.get_or_insert(Token {
                    text: String::new(),
                    quoted: false,
                });
                t.text.push('\\');
                if let Some(e) = chars.next() {
                    t.text.push(e);
                }
            }
            _ => tok
                .get_or_insert(Token {
                    text: String::new(),
                    quoted: false,
                })
                .text
                .push(c),
        }
    }
    flush_tok(&mut cur, &mut tok, entry_line, inherits);
    if depth > 0 {
        problems.push(Problem::new(
            file,
            cur.as_ref().map_or(line, |e| e.line),
            "unbalanced '(': missing ')' before the end of the file",
        ));
    } else if let Some(e) = cur.take()
        && !bad
    {
        entries.push(e);
    }
    entries
}

/// Reading state carried across entries and into `$INCLUDE`d files.
struct Ctx {
    /// Wire format.
    origin: Vec<u8>,
    default_ttl: Option<u32>,
    last_owner: Option<Vec<u8>>,
    /// The directory `$INCLUDE` may read from (the zone file's own, canonical).
    root: Option<PathBuf>,
    /// The files being read, outermost first (canonical): an include of one of them is a loop.
    open: Vec<PathBuf>,
    /// Bytes read by `$INCLUDE` so far.
    included: u64,
}

/// What [`read_zone_file`] produces.
#[derive(Debug)]
pub struct ZoneText {
    /// The zone's origin (lower-case wire format): the file's leading `$ORIGIN`, else the file
    /// name without `.zone`.
    pub origin: Vec<u8>,
    pub records: Vec<RawRecord>,
}

/// Reads a zone file and everything it includes. Problems are appended to `problems`; the records
/// that could be read are returned either way so later checks can report more.
pub fn read_zone_file(path: &Path, problems: &mut Vec<Problem>) -> Option<ZoneText> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            problems.push(Problem::new(path, 0, format!("cannot read: {e}")));
            return None;
        }
    };
    let file: Arc<Path> = Arc::from(path);
    let entries = tokenize(&text, path, problems);
    let origin = match leading_origin(&entries) {
        Some(Ok(o)) => o,
        Some(Err(p)) => {
            problems.push(Problem::new(path, p.0, p.1));
            return None;
        }
        None => match origin_from_file_name(path) {
            Ok(o) => o,
            Err(msg) => {
                problems.push(Problem::new(path, 0, msg));
                return None;
            }
        },
    };
    let origin = lower(&origin);
    let canonical = std::fs::canonicalize(path).ok();
    let mut ctx = Ctx {
        origin: origin.clone(),
        default_ttl: None,
        last_owner: None,
        root: canonical
            .as_deref()
            .and_then(Path::parent)
            .map(Path::to_path_buf),
        open: canonical.into_iter().collect(),
        included: 0,
    };
    let mut records = Vec::new();
    read_entries(&file, entries, &mut ctx, &mut records, problems, 0);
    Some(ZoneText { origin, records })
}

fn leading_origin(entries: &[Entry]) -> Option<Result<Vec<u8>, (usize, String)>> {
    let first = entries.first()?;
    let t0 = first.tokens.first()?;
    if first.inherits_owner || !t0.text.eq_ignore_ascii_case("$ORIGIN") {
        return None;
    }
    Some(match first.tokens.get(1) {
        Some(t) => parse_name(&t.text, None).map_err(|m| (first.line, m)),
        None => Err((first.line, "$ORIGIN needs a domain name".into())),
    })
}

fn origin_from_file_name(path: &Path) -> Result<Vec<u8>, String> {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("the file name is not valid UTF-8")?;
    parse_name(stem, Some(&[0])).map_err(|m| {
        format!("the zone's origin is taken from the file name, which is not a domain name ({m}); start the file with $ORIGIN")
    })
}

fn is_class(s: &str) -> bool {
    matches!(s.to_ascii_uppercase().as_str(), "IN" | "CH" | "CS" | "HS")
        || s.get(..5).is_some_and(|c| c.eq_ignore_ascii_case("CLASS"))
            && s.get(5..).is_some_and(|n| n.parse::<u16>().is_ok())
}

fn read_entries(
    file: &Arc<Path>,
    entries: Vec<Entry>,
    ctx: &mut Ctx,
    records: &mut Vec<RawRecord>,
    problems: &mut Vec<Problem>,
    depth: usize,
) {
    for e in entries {
        let Some(first) = e.tokens.first().map(|t| t.text.as_str()) else {
            continue;
        };
        if !e.inherits_owner && first.starts_with('$') {
            directive(file, &e, ctx, records, problems, depth);
            continue;
        }
        match record(file, &e, ctx) {
            Ok(r) => records.push(r),
            Err(msg) => problems.push(Problem::new(file, e.line, msg)),
        }
    }
}

fn directive(
    file: &Arc<Path>,
    e: &Entry,
    ctx: &mut Ctx,
    records: &mut Vec<RawRecord>,
    problems: &mut Vec<Problem>,
    depth: usize,
) {
    let name = e
        .tokens
        .first()
        .map(|t| t.text.to_ascii_uppercase())
        .unwrap_or_default();
    let arg = e.tokens.get(1).map(|t| t.text.as_str());
    let mut report = |m: String| problems.push(Problem::new(file, e.line, m));
    match (name.as_str(), arg) {
        ("$ORIGIN", Some(a)) => match parse_name(a, Some(&ctx.origin)) {
            Ok(n) => ctx.origin = n,
            Err(m) => report(m),
        },
        ("$TTL", Some(a)) => match parse_ttl(a) {
            Some(t) => ctx.default_ttl = Some(t),
            None => report(format!("bad $TTL value '{a}'")),
        },
        ("$INCLUDE", Some(a)) => {
            if depth >= MAX_INCLUDE_DEPTH {
                report(format!(
                    "$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep (a loop?)"
                ));
                return;
            }
            let base = file.parent().unwrap_or(Path::new("."));
            let path: PathBuf = base.join(a);
            let text = match read_include(&path, ctx) {
                Ok((t, canonical)) => {
                    ctx.open.push(canonical);
                    t
                }
                Err(m) => {
                    report(m);
                    return;
                }
            };
            // an origin argument applies to the included file only (RFC 1035 §5.1)
            let saved_origin = ctx.origin.clone();
            if let Some(o) = e.tokens.get(2) {
                match parse_name(&o.text, Some(&ctx.origin)) {
                    Ok(n) => ctx.origin = n,
                    Err(m) => {
                        report(m);
                        return;
                    }
                }
            }
            let inc: Arc<Path> = Arc::from(path.as_path());
            let entries = tokenize(&text, &path, problems);
            read_entries(&inc, entries, ctx, records, problems, depth + 1);
            ctx.origin = saved_origin;
            ctx.open.pop();
        }
        ("$ORIGIN" | "$TTL" | "$INCLUDE", None) => report(format!("{name} needs an argument")),
        _ => report(format!("unknown directive {name}")),
    }
}

/// Reads a file named by `$INCLUDE`, within the limits: inside the zone file's directory
/// (after symbolic links are resolved), a regular file, not one being read already, within the
/// size limit of one file and of all includes together. Returns the text and the canonical path.
fn read_include(path: &Path, ctx: &mut Ctx) -> Result<(String, PathBuf), String> {
    use std::io::Read;
    let shown = path.display();
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| format!("cannot read included file {shown}: {e}"))?;
    if let Some(root) = &ctx.root
        && !canonical.starts_with(root)
    {
        return Err(format!(
            "included file {shown} is outside the zone's directory {}",
            root.display()
        ));
    }
    if ctx.open.contains(&canonical) {
        return Err(format!("included file {shown} includes itself (a loop)"));
    }
    // the type before opening: opening a FIFO would wait for a writer
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| format!("cannot read included file {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("included file {shown} is not a regular file"));
    }
    let file = std::fs::File::open(&canonical)
        .map_err(|e| format!("cannot read included file {shown}: {e}"))?;
    let limit = MAX_INCLUDE_BYTES.min(MAX_INCLUDED_TOTAL.saturating_sub(ctx.included));
    let mut text = String::new();
    file.take(limit + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read included file {shown}: {e}"))?;
    let n = text.len() as u64;
    if n > limit {
        return Err(format!(
            "included file {shown} is larger than {} MiB, or the zone's includes together exceed {} MiB",
            MAX_INCLUDE_BYTES >> 20,
            MAX_INCLUDED_TOTAL >> 20
        ));
    }
    ctx.included += n;
    Ok((text, canonical))
}

fn record(file: &Arc<Path>, e: &Entry, ctx: &mut Ctx) -> Result<RawRecord, String> {
    let mut toks = e.tokens.iter().peekable();
    let owner = if e.inherits_owner {
        ctx.last_owner
            .clone()
            .ok_or("the record has no owner name (the line starts with blank space) and no earlier record gives one")?
    } else {
        let t = toks.next().ok_or("the record is empty")?;
        lower(&parse_name(&t.text, Some(&ctx.origin))?)
    };
    ctx.last_owner = Some(owner.clone());

    // [ttl] [class] type, or [class] [ttl] type
    let mut ttl = None;
    let mut class_seen = false;
    let rtype = loop {
        let t = toks
            .next()
            .ok_or("the record has no type (expected for example A, AAAA, NS, MX, TXT)")?;
        let s = t.text.as_str();
        if ttl.is_none() && s.starts_with(|c: char| c.is_ascii_digit()) {
            ttl = Some(parse_ttl(s).ok_or_else(|| format!("bad TTL '{s}'"))?);
        } else if !class_seen && is_class(s) {
            if !s.eq_ignore_ascii_case("IN") {
                return Err(format!("class {s} is not served (only IN)"));
            }
            class_seen = true;
        } else {
            break type_code(s).ok_or_else(|| {
                let shown: String = s.chars().take(32).collect();
                format!("unknown record type '{shown}'")
            })?;
        }
    };
    let data: Vec<Tok<'_>> = toks
        .map(|t| Tok {
            text: &t.text,
            quoted: t.quoted,
        })
        .collect();
    let parsed = rdata::parse(rtype, &data, &ctx.origin)?;
    // A record without a TTL takes $TTL; without $TTL, NSD (and so geosteer) uses 3600, not the
    // last TTL RFC 1035 §5.1 speaks of: the differential test pins this.
    let ttl = ttl.or(ctx.default_ttl).unwrap_or(DEFAULT_TTL);
    if ttl > i32::MAX as u32 {
        return Err(format!("TTL {ttl} is larger than 2^31-1 (RFC 2181 §8)"));
    }
    Ok(RawRecord {
        file: file.clone(),
        line: e.line,
        owner,
        rtype,
        ttl,
        rdata: parsed.rdata,
        target: parsed.target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::name::to_text;

    fn read(text: &str) -> (Vec<RawRecord>, Vec<Problem>) {
        let dir = crate::testutil::dir("parse");
        let path = dir.join(format!("t{}.example.zone", text.len()));
        std::fs::write(&path, text).unwrap();
        let mut problems = Vec::new();
        let z = read_zone_file(&path, &mut problems).unwrap();
        (z.records, problems)
    }

    #[test]
    fn directives_owner_inheritance_and_parentheses() {
        let (recs, problems) = read(
            "$ORIGIN example.com.\n$TTL 1h\n@ IN SOA ns1 host ( 1 ; serial\n 2 3 4 5 )\n  NS ns1\nwww 60 IN A 192.0.2.1\n IN AAAA 2001:db8::1\ntxt TXT \"a ; b\" \"c\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(recs.len(), 5);
        assert_eq!(recs[0].line, 3);
        assert_eq!(to_text(&recs[1].owner), "example.com.");
        assert_eq!(recs[1].line, 5);
        assert_eq!(recs[1].ttl, 3600);
        assert_eq!(to_text(&recs[3].owner), "www.example.com.");
        assert_eq!(
            recs[3].ttl, 3600,
            "$TTL applies, not the previous explicit TTL"
        );
        // two character strings, the ';' inside quotes kept
        assert_eq!(&recs[4].rdata[..], b"\x05a ; b\x01c");
        assert_eq!(to_text(&recs[1].rdata), "ns1.example.com.");
    }

    #[test]
    fn include_with_its_own_origin_and_lines() {
        let dir = crate::testutil::dir("include");
        std::fs::write(
            dir.join("hosts.inc"),
            "; included\nweb A 192.0.2.7\nbad A nope\n",
        )
        .unwrap();
        let path = dir.join("inc.example.zone");
        std::fs::write(
            &path,
            "$ORIGIN inc.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n$INCLUDE hosts.inc sub.inc.example.\nafter A 192.0.2.8\n",
        )
        .unwrap();
        let mut problems = Vec::new();
        let z = read_zone_file(&path, &mut problems).unwrap();
        let names: Vec<String> = z.records.iter().map(|r| to_text(&r.owner)).collect();
        assert_eq!(
            names,
            ["inc.example.", "web.sub.inc.example.", "after.inc.example."]
        );
        // the included file's problems name the included file and its own line
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].file.ends_with("hosts.inc"));
        assert_eq!(problems[0].line, 3);
    }

    #[test]
    fn reports_every_bad_line() {
        let (recs, problems) = read(
            "$ORIGIN example.com.\n$TTL 300\na A 999.1.1.1\nb BOGUS 1\nc MX mail\nd A 192.0.2.1\n",
        );
        assert_eq!(recs.len(), 1);
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5], "{problems:?}");
    }
}
