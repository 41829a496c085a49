package markdown_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/clsvc/license-service/internal/markdown"
)

func TestHTML(t *testing.T) {
	md := "## 1.2.0\n\nFaster **sitemaps**, see [docs](https://example.com/docs).\nSecond line.\n\n- Fix `wp_cron` <script>\n* Another\n\n# Big"
	want := "<h5>1.2.0</h5>\n<p>Faster <strong>sitemaps</strong>, see <a href=\"https://example.com/docs\">docs</a>. Second line.</p>\n" +
		"<ul>\n<li>Fix <code>wp_cron</code> &lt;script&gt;</li>\n<li>Another</li>\n</ul>\n<h4>Big</h4>"
	assert.Equal(t, want, markdown.HTML(md))
	assert.Equal(t, "", markdown.HTML(""))
}

func TestHTMLCarriesNoMarkupOfItsOwn(t *testing.T) {
	for _, md := range []string{`<img src=x onerror=alert(1)>`, `[x](javascript:alert(1))`, `[x](https://a.example/"onmouseover="x)`, "`<b>`"} {
		out := markdown.HTML(md)
		assert.NotContains(t, out, "<img", md)
		assert.NotContains(t, out, "javascript:alert(1)\"", md)
		assert.NotContains(t, out, `"onmouseover`, md)
		assert.NotContains(t, strings.ReplaceAll(out, "<code>", ""), "<b>", md)
	}
}

func FuzzHTML(f *testing.F) {
	f.Add("## 1.0\n- a\n\ntext **b** `c` [d](https://e)")
	f.Fuzz(func(t *testing.T, md string) {
		out := markdown.HTML(md)
		// No tag but the ones this package writes.
		for _, tag := range strings.Split(out, "<")[1:] {
			name := strings.TrimPrefix(strings.FieldsFunc(tag, func(r rune) bool { return r == '>' || r == ' ' })[0], "/")
			switch name {
			case "p", "ul", "li", "h4", "h5", "h6", "code", "strong", "a":
			default:
				t.Fatalf("tag %q in %q from %q", name, out, md)
			}
		}
	})
}
