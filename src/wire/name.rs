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
