//! Domain names in uncompressed wire format: `[len][label]...[0]`.

/// Length of the uncompressed wire name at the start of `b`, or `None` when it is malformed or uses
/// a compression pointer.
pub fn wire_len(b: &[u8]) -> Option<usize> {
    let mut p = 0;
    loop {
        let l = *b.get(p)? as usize;
        if l == 0 {
            return Some(p + 1);
        }
        if l > 63 {
            return None;
        }
        p += l + 1;
        if p > 255 {
            return None;
        }
    }
}

/// Number of labels (the root has 0).
pub fn label_count(b: &[u8]) -> usize {
    let mut p = 0;
    let mut n = 0;
    while let Some(&l) = b.get(p) {
        if l == 0 {
            break;
        }
        p += l as usize + 1;
        n += 1;
    }
    n
}

/// Byte offsets at which each label of `b` starts, outermost (leftmost) first, excluding the root.
/// Returns the number of offsets written.
pub fn label_offsets(b: &[u8], out: &mut [u8; 128]) -> usize {
    let mut p = 0;
    let mut n = 0;
    while let Some(&l) = b.get(p) {
        if l == 0 || n == out.len() {
            break;
        }
        if let Some(slot) = out.get_mut(n) {
            // a wire name is at most 255 bytes, so every offset fits
            *slot = u8::try_from(p).unwrap_or(u8::MAX);
        }
        n += 1;
        p += l as usize + 1;
    }
    n
}

/// Whether `name` equals `zone` or lies below it (both lower-case wire format).
pub fn is_subdomain(name: &[u8], zone: &[u8]) -> bool {
    if name.len() < zone.len() || !name.ends_with(zone) {
        return false;
    }
    // the suffix must start on a label boundary of `name`
    let cut = name.len() - zone.len();
    let mut p = 0;
    while p < cut {
        match name.get(p) {
            Some(&l) => p += l as usize + 1,
            None => return false,
        }
    }
    p == cut
}

/// Wire format of a dotted name without escapes (`www.example.com`, trailing dot optional).
pub fn from_dotted(name: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(name.len() + 2);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        v.push(label.len() as u8);
        v.extend_from_slice(label.as_bytes());
    }
    v.push(0);
    v
}

/// Reads one byte of presentation-format text at `i`, resolving the RFC 1035 §5.1 escapes
/// (`\DDD` decimal, `\X` literal): the byte and how many input bytes it took.
pub fn unescape(b: &[u8], i: usize) -> Result<(u8, usize), &'static str> {
    match b.get(i) {
        None => Err("the text ended"),
        Some(b'\\') => {
            let digits = b
                .get(i + 1..i + 4)
                .filter(|d| d.iter().all(u8::is_ascii_digit));
            match digits {
                Some(d) => {
                    let v = d.iter().fold(0u32, |a, x| a * 10 + u32::from(x - b'0'));
                    Ok((u8::try_from(v).map_err(|_| "\\DDD above 255")?, 4))
                }
                None => Ok((*b.get(i + 1).ok_or("a trailing backslash")?, 2)),
            }
        }
        Some(&c) => Ok((c, 1)),
    }
}

/// Parses a domain name in presentation form (escapes `\X` and `\DDD` allowed) into wire format,
/// case preserved. `@` is the origin; a name without a trailing dot is relative to it.
pub fn parse(text: &str, origin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("bad domain name '{text}': {why}");
    if text == "@" {
        return origin
            .map(<[u8]>::to_vec)
            .ok_or_else(|| "'@' used before any origin is known".to_string());
    }
    if text == "." {
        return Ok(vec![0]);
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len() + 2);
    let mut label: Vec<u8> = Vec::new();
    let mut absolute = false;
    let mut i = 0;
    let push_label = |label: &mut Vec<u8>, out: &mut Vec<u8>| -> Result<(), String> {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        let len = u8::try_from(label.len())
            .ok()
            .filter(|&l| l <= 63)
            .ok_or_else(|| bad("a label is longer than 63 bytes"))?;
        out.push(len);
        out.append(label);
        Ok(())
    };
    while i < b.len() {
        if b.get(i) == Some(&b'.') {
            // an unescaped dot ends a label; at the very end it makes the name absolute
            push_label(&mut label, &mut out)?;
            i += 1;
            absolute = i == b.len();
            continue;
        }
        let (c, used) = unescape(b, i).map_err(bad)?;
        label.push(c);
        i += used;
    }
    if !label.is_empty() {
        push_label(&mut label, &mut out)?;
    }
    if absolute {
        out.push(0);
    } else {
        match origin {
            Some(o) => out.extend_from_slice(o),
            None => return Err(format!("'{text}' must be an absolute name ending in '.'")),
        }
    }
    if out.len() > 255 {
        return Err(bad("longer than 255 bytes"));
    }
    Ok(out)
}

/// A wire name with every label lower-cased.
pub fn lowercased(name: &[u8]) -> Vec<u8> {
    let mut v = name.to_vec();
    let mut p = 0;
    while let Some(&l) = v.get(p) {
        if l == 0 {
            break;
        }
        let end = (p + 1 + usize::from(l)).min(v.len());
        if let Some(label) = v.get_mut(p + 1..end) {
            label.make_ascii_lowercase();
        }
        p += usize::from(l) + 1;
    }
    v
}

/// Presentation form of a wire name, for logs and error messages.
pub fn to_text(b: &[u8]) -> String {
    let mut s = String::new();
    let mut p = 0;
    while let Some(&l) = b.get(p) {
        if l == 0 {
            break;
        }
        for &c in b.get(p + 1..p + 1 + l as usize).unwrap_or(&[]) {
            match c {
                b'.' | b'\\' | b'"' | b'(' | b')' | b';' | b'@' | b'$' => {
                    s.push('\\');
                    s.push(c as char)
                }
                0x21..=0x7e => s.push(c as char),
                _ => s.push_str(&format!("\\{c:03}")),
            }
        }
        s.push('.');
        p += l as usize + 1;
    }
    if s.is_empty() {
        s.push('.');
    }
    s
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_labels() {
        let n = b"\x03www\x07example\x03com\x00";
        assert_eq!(wire_len(n), Some(n.len()));
        assert_eq!(label_count(n), 3);
        assert_eq!(wire_len(b"\x03ww"), None);
        assert_eq!(wire_len(b"\xc0\x0c"), None);
        let mut offs = [0u8; 128];
        assert_eq!(label_offsets(n, &mut offs), 3);
        assert_eq!(&offs[..3], &[0, 4, 12]);
        assert_eq!(to_text(n), "www.example.com.");
        assert_eq!(to_text(b"\x00"), ".");
    }

    #[test]
    fn presentation_names() {
        let origin = b"\x07example\x00";
        assert_eq!(
            parse("a\\.b", Some(origin)).unwrap(),
            b"\x03a.b\x07example\x00"
        );
        assert_eq!(parse("sp\\032ace.", None).unwrap(), b"\x06sp ace\x00");
        assert_eq!(parse("@", Some(origin)).unwrap(), origin);
        assert!(parse("a..b", Some(origin)).is_err());
        assert!(parse("\\256x", Some(origin)).is_err());
        assert!(parse("www", None).is_err());
        assert_eq!(lowercased(b"\x03WwW\x00"), b"\x03www\x00");
        assert_eq!(to_text(&parse("x\\.y.", None).unwrap()), "x\\.y.");
    }

    #[test]
    fn subdomain_on_label_boundary() {
        let zone = b"\x07example\x03com\x00";
        assert!(is_subdomain(b"\x03www\x07example\x03com\x00", zone));
        assert!(is_subdomain(zone, zone));
        // "xexample.com" ends with the same bytes only if the length byte matched; build one that
        // shares the suffix bytes without a label boundary
        assert!(!is_subdomain(b"\x08aexample\x03com\x00", zone));
        assert!(!is_subdomain(b"\x03com\x00", zone));
    }
}
