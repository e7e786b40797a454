//! HTML bodies of mail (submitted over SMTP or received from another provider) are kept as
//! they came, encrypted, and shown only through this sanitiser (`ammonia`, html5ever's
//! parser): no scripts, styles, event handlers, forms or frames; links only `http`, `https`
//! and `mailto`, opened without a referrer; no images at all (a remote image is a tracking
//! pixel, and the page's CSP would block it anyway; inline `cid:` images are attachments).

/// The HTML safe to put into a page.
pub fn sanitize(html: &str) -> String {
    let mut b = ammonia::Builder::default();
    b.rm_tags(["img"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true);
    b.clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn scripts_handlers_images_and_odd_links_go_text_and_links_stay() {
        let dirty = "<p onclick=\"x()\">Beste <b>mevrouw</b></p><script>alert(1)</script>\
            <img src=\"https://tracker.example/p.gif\"><img src=\"cid:logo\">\
            <a href=\"javascript:alert(1)\">klik</a><a href=\"https://ziekenhuis.nl/x\">site</a>\
            <style>p{color:red}</style><iframe src=\"https://x\"></iframe><!-- opmerking -->\
            <form action=\"https://x\"><input name=\"a\"></form>";
        let clean = sanitize(dirty);
        for gone in [
            "onclick",
            "script",
            "alert",
            "<img",
            "tracker",
            "cid:",
            "javascript",
            "<style",
            "color:red",
            "iframe",
            "opmerking",
            "<form",
            "<input",
        ] {
            assert!(!clean.contains(gone), "{gone} in {clean}");
        }
        assert!(clean.contains("<p>Beste <b>mevrouw</b></p>"), "{clean}");
        assert!(
            clean.contains(
                "<a href=\"https://ziekenhuis.nl/x\" rel=\"noopener noreferrer nofollow\">site</a>"
            ),
            "{clean}"
        );
        assert!(
            clean.contains(">klik</a>"),
            "the link's text stays: {clean}"
        );
    }
}
