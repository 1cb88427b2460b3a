//! A strict little XML well-formedness check for `Trace::svg`: balanced
//! and properly nested elements, quoted attributes without duplicates, no
//! raw `<` or unknown entity in text, one root element.

/// One element as the checker saw it: its name and attributes.
#[derive(Debug)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
}

impl Element {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Checks `doc`; returns every element in document order.
pub fn check(doc: &str) -> Result<Vec<Element>, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    let mut roots = 0;
    let mut rest = doc.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').ok_or("unterminated tag")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack.pop().ok_or_else(|| format!("closing </{name}> with nothing open"))?;
                if open != name.trim() {
                    return Err(format!("</{name}> closes <{open}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let (name, mut attrs_text) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':') {
                return Err(format!("bad element name {name:?}"));
            }
            let mut attrs: Vec<(String, String)> = Vec::new();
            loop {
                attrs_text = attrs_text.trim_start();
                if attrs_text.is_empty() {
                    break;
                }
                let eq =
                    attrs_text.find('=').ok_or_else(|| format!("attribute without value in <{name}>"))?;
                let key = attrs_text[..eq].trim().to_owned();
                let after = &attrs_text[eq + 1..];
                let quote = after.chars().next().ok_or("missing attribute value")?;
                if quote != '"' && quote != '\'' {
                    return Err(format!("unquoted attribute {key} in <{name}>"));
                }
                let close = after[1..].find(quote).ok_or("unterminated attribute value")?;
                let value = &after[1..1 + close];
                check_text(value)?;
                if value.contains('<') {
                    return Err(format!("raw < in attribute {key}"));
                }
                if attrs.iter().any(|(k, _)| *k == key) {
                    return Err(format!("duplicate attribute {key} in <{name}>"));
                }
                attrs.push((key, value.to_owned()));
                attrs_text = &after[close + 2..];
            }
            if stack.is_empty() {
                roots += 1;
            }
            elements.push(Element { name: name.to_owned(), attrs });
            if !self_closing {
                stack.push(name.to_owned());
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..end];
            if stack.is_empty() && !text.trim().is_empty() {
                return Err(format!("text outside the root: {text:?}"));
            }
            check_text(text)?;
            rest = &rest[end..];
        }
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok(elements)
}

/// Every `&` starts a known entity.
fn check_text(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        let entity = &rest[at..];
        let ok = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| entity.starts_with(e));
        if !ok {
            return Err(format!("bad entity near {:?}", &entity[..entity.len().min(10)]));
        }
        rest = &rest[at + 1..];
    }
    Ok(())
}
