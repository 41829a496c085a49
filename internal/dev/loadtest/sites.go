package loadtest

import (
	"fmt"
	"math/rand/v2"
)

// siteKind says which of a license's candidate sites a site is.
type siteKind int

const (
	// prodSite is one of a license's production candidates site0 …
	// site<seats+1>.example.com (two more than its seats, so licenses fill
	// up and refuse).
	prodSite siteKind = iota
	// nonprodSite is one of its staging and local candidates (two more than
	// the staging cap): staging.site<j>.example.com, site<j>.local and
	// localhost:8080/site<j> in turn.
	nonprodSite
	// eddSite is a site an EDD client activated: a new one every time
	// (edd<n>.example.org, or edd<n>.local), so that an EDD answer "valid",
	// which does not say whether the seat is new, always is.
	eddSite
)

// Environments, as the service classifies sites.
const (
	envProduction = "production"
	envStaging    = "staging"
	envLocal      = "local"
)

// site is one site a license may be activated on.
type site struct {
	kind  siteKind
	n     int  // candidate index, or the EDD site's number
	local bool // eddSite: a local site
}

// env is the environment the service must classify the site as.
func (s site) env() string {
	switch {
	case s.kind == prodSite, s.kind == eddSite && !s.local:
		return envProduction
	case s.kind == nonprodSite && s.n%3 == 0:
		return envStaging
	}
	return envLocal
}

// takesSeat reports whether the site counts against seat_limit (production)
// rather than the staging cap.
func (s site) takesSeat() bool { return s.env() == envProduction }

// canonical is the site's canonical instance identifier.
func (s site) canonical() string {
	switch s.kind {
	case prodSite:
		return fmt.Sprintf("site%d.example.com", s.n)
	case eddSite:
		if s.local {
			return fmt.Sprintf("edd%d.local", s.n)
		}
		return fmt.Sprintf("edd%d.example.org", s.n)
	}
	switch s.n % 3 {
	case 0:
		return fmt.Sprintf("staging.site%d.example.com", s.n)
	case 1:
		return fmt.Sprintf("site%d.local", s.n)
	}
	return fmt.Sprintf("localhost:8080/site%d", s.n)
}

// spelling is one of several ways of writing the site that canonicalise to
// the same instance.
func (s site) spelling(rng *rand.Rand) string {
	c := s.canonical()
	switch s.kind {
	case prodSite:
		switch rng.IntN(4) {
		case 0:
			return fmt.Sprintf("https://www.site%d.example.com/", s.n)
		case 1:
			return fmt.Sprintf("http://SITE%d.Example.com", s.n)
		case 2:
			return fmt.Sprintf("https://site%d.example.com:443/?ver=6.7#top", s.n)
		}
		return c
	case eddSite:
		return "https://" + c + "/"
	}
	switch rng.IntN(3) {
	case 0:
		return "https://" + c + "/"
	case 1:
		return "http://" + c + "/?preview=true"
	}
	return c
}

// candidates is how many sites of a kind a license has.
func (l *license) candidates(k siteKind) int {
	if k == nonprodSite {
		return len(l.nonprod)
	}
	return len(l.active)
}

func (l *license) flags(k siteKind) []bool {
	if k == nonprodSite {
		return l.nonprod
	}
	return l.active
}

// setActive records what the service last said about a site.
func (l *license) setActive(s site, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s.kind == eddSite && on:
		l.edd[s.n] = s
	case s.kind == eddSite:
		delete(l.edd, s.n)
	default:
		l.flags(s.kind)[s.n] = on
	}
}

// pick picks one of the license's candidate sites of kind k: with
// probability pct% one believed to hold a seat (when there is one), with
// probability inactivePct% one believed not to (when there is one),
// otherwise any.
func (l *license) pick(rng *rand.Rand, k siteKind, pct, inactivePct int) site {
	roll := rng.IntN(100)
	want, wantSome := true, false
	switch {
	case roll < pct:
		wantSome = true
	case roll < pct+inactivePct:
		want, wantSome = false, true
	}
	if wantSome {
		l.mu.Lock()
		var match []int
		for i, a := range l.flags(k) {
			if a == want {
				match = append(match, i)
			}
		}
		l.mu.Unlock()
		if len(match) > 0 {
			return site{kind: k, n: match[rng.IntN(len(match))]}
		}
	}
	return site{kind: k, n: rng.IntN(l.candidates(k))}
}

// site picks a production candidate: with probability pct% one believed to
// hold a seat (when there is one), otherwise any.
func (l *license) site(rng *rand.Rand, pct int) site { return l.pick(rng, prodSite, pct, 0) }

// pickEDD picks an EDD site believed to hold a seat, if there is one.
func (l *license) pickEDD(rng *rand.Rand) (site, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.edd) == 0 {
		return site{}, false
	}
	i := rng.IntN(len(l.edd))
	for _, s := range l.edd {
		if i == 0 {
			return s, true
		}
		i--
	}
	panic("unreachable")
}

// confirmed records a state change the service confirmed on a site of l
// (+1 a new seat or place, −1 a freed one).
func (l *license) confirmed(s site, delta int64) {
	if s.takesSeat() {
		l.prodItems.Add(delta)
	} else {
		l.nonprodItems.Add(delta)
	}
}
