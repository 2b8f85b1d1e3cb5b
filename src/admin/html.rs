//! A tiny HTML builder for the debug page: markup only from `&'static str` literals in our
//! own code, every value through [`Html::text`], which escapes it. A value — an `aud` a
//! client chose, a fetch error an IdP wrote — can therefore never become markup.

use std::ops::Range;

/// An HTML document being written.
#[derive(Default)]
pub struct Html(String);

impl Html {
    /// Markup. Only literals: nothing read at run time can reach this.
    pub fn raw(&mut self, markup: &'static str) -> &mut Html {
        self.0.push_str(markup);
        self
    }

    /// A value as text, escaped for element content and quoted attribute values alike.
    pub fn text(&mut self, value: &str) -> &mut Html {
        escape_into(&mut self.0, value);
        self
    }

    /// A value with the byte range `marked` wrapped in `<mark>` (an empty range, where the
    /// other string has something this one lacks, is a `<mark class="gap">`).
    pub fn marked(&mut self, value: &str, marked: Range<usize>) -> &mut Html {
        let (Some(before), Some(inside), Some(after)) = (
            value.get(..marked.start),
            value.get(marked.clone()),
            value.get(marked.end..),
        ) else {
            // Not on character boundaries: a bug in the caller; show the value unmarked.
            return self.text(value);
        };
        self.text(before);
        if inside.is_empty() {
            self.raw("<mark class=\"gap\" title=\"missing here\"></mark>");
        } else {
            self.raw("<mark>").text(inside).raw("</mark>");
        }
        self.text(after)
    }

    /// `<tag>value</tag>` for a literal tag pair.
    pub fn element(&mut self, open: &'static str, value: &str, close: &'static str) -> &mut Html {
        self.raw(open).text(value).raw(close)
    }

    pub fn finish(self) -> String {
        self.0
    }
}

/// Escapes the five characters that matter in HTML text and attribute values.
pub fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_come_out_as_text() {
        let mut html = Html::default();
        html.raw("<td title=\"")
            .text("\"><img src=x onerror=alert(1)>")
            .raw("\">")
            .text("<script>alert('x')</script> & co")
            .raw("</td>");
        assert_eq!(
            html.finish(),
            "<td title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\">\
             &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</td>"
        );
    }

    #[test]
    fn marked_escapes_each_part_and_shows_a_gap() {
        let mut html = Html::default();
        html.marked("<a>/b", 3..4);
        html.raw("|").marked("x", 1..1);
        // Off a character boundary: unmarked, still escaped.
        html.raw("|").marked("é<", 1..2);
        assert_eq!(
            html.finish(),
            "&lt;a&gt;<mark>/</mark>b|x<mark class=\"gap\" title=\"missing here\"></mark>|é&lt;"
        );
    }
}
