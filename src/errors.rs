//! Errors shown to people: an error and its causes on one line, and the
//! search for a cause of a given type (a TLS or I/O failure behind a
//! client library's error), which decides a check's `reason`.

/// Renders an error and its sources on one line: `a: b: c`.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The first error of type `T` in the chain. Also looks inside
/// `std::io::Error`s, whose `source()` skips the error they wrap (TLS
/// libraries report handshake failures that way).
pub fn chain_has<'a, T: std::error::Error + 'static>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = e.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref)
            && let Some(found) = chain_has::<T>(inner)
        {
            return Some(found);
        }
        cur = e.source();
    }
    None
}
