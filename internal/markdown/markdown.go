// Package markdown renders the small Markdown of release changelogs as the
// HTML WordPress shows in a plugin's "View details" screen: headings, lists,
// paragraphs, **bold**, `code` and http(s) links. Everything else is text;
// all text is HTML-escaped, so a changelog can carry no markup of its own.
package markdown

import (
	"html"
	"regexp"
	"strings"
)

var (
	heading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	item    = regexp.MustCompile(`^\s*[-*+]\s+(.*)$`)
	code    = regexp.MustCompile("`([^`]+)`")
	bold    = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	link    = regexp.MustCompile(`\[([^\]]+)\]\((https?://[^\s)"<>]+)\)`)
)

// HTML renders Markdown as HTML.
func HTML(md string) string {
	var out strings.Builder
	var para []string
	inList := false
	flush := func() {
		if len(para) > 0 {
			out.WriteString("<p>" + inline(strings.Join(para, " ")) + "</p>\n")
			para = nil
		}
	}
	closeList := func() {
		if inList {
			out.WriteString("</ul>\n")
			inList = false
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(md, "\r\n", "\n"), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			closeList()
		case heading.MatchString(line):
			flush()
			closeList()
			m := heading.FindStringSubmatch(line)
			level := min(len(m[1])+3, 6) // h4 and below: the screen's own title is above
			tag := "h" + string(rune('0'+level))
			out.WriteString("<" + tag + ">" + inline(m[2]) + "</" + tag + ">\n")
		case item.MatchString(line):
			flush()
			if !inList {
				out.WriteString("<ul>\n")
				inList = true
			}
			out.WriteString("<li>" + inline(item.FindStringSubmatch(line)[1]) + "</li>\n")
		default:
			closeList()
			para = append(para, strings.TrimSpace(line))
		}
	}
	flush()
	closeList()
	return strings.TrimSuffix(out.String(), "\n")
}

// inline escapes text and renders code, bold and links.
func inline(s string) string {
	s = html.EscapeString(s)
	s = code.ReplaceAllString(s, "<code>$1</code>")
	s = bold.ReplaceAllString(s, "<strong>$1</strong>")
	return link.ReplaceAllStringFunc(s, func(m string) string {
		p := link.FindStringSubmatch(m)
		return `<a href="` + p[2] + `">` + p[1] + "</a>"
	})
}
