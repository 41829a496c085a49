package licensing

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// environments is every value ClassifyInstance may answer.
var environments = map[Environment]bool{EnvProduction: true, EnvStaging: true, EnvLocal: true}

// FuzzParseInstanceTypes covers the hostname and machine_id instance types
// (and url through the same entry point): every refusal is a validation
// error naming the field, and every accepted identifier is bounded, clean
// text whose canonical form is a fixed point and whose environment is
// decided by its host alone.
func FuzzParseInstanceTypes(f *testing.F) {
	for _, s := range []struct{ typ, raw string }{
		{"hostname", "  Build-01.Example.COM "}, {"hostname", "staging.shop.com"}, {"hostname", "build-box.internal"},
		{"hostname", "LOCALHOST"}, {"hostname", "shop.wpengine.com"}, {"hostname", "a b"}, {"hostname", "a/b"},
		{"hostname", "İSTANBUL.example.com"}, {"hostname", "\u00a0x\u00a0"}, {"hostname", "10.0.0.5"}, {"hostname", "shop.com:8080"},
		{"machine_id", " ABC-123 "}, {"machine_id", "   "}, {"machine_id", "\x00"}, {"machine_id", "\xff"},
		{"machine_id", strings.Repeat("m", MaxInstanceLength+1)}, {"machine_id", "localhost"},
		{" hostname ", "x"}, {"HOSTNAME", "x"}, {"", "https://www.Example.com/"}, {"url", "http://[::1]:8080"},
		{"url", "https://staging.shop.com/blog"}, {"bogus", "x"}, {"hostname", ""},
		{"hostname", "example.com:99999"}, {"hostname", "example.com:0"}, {"hostname", "shop.com:0080"}, {"hostname", "exa\u200bmple.com"},
		{"machine_id", "abc\u202e"}, {"url\u2028", "x"},
	} {
		f.Add(s.typ, s.raw)
	}
	f.Fuzz(func(t *testing.T, typ, raw string) {
		inst, err := ParseInstance(typ, raw)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != CodeValidation || (e.Field != "instance_identifier" && e.Field != "instance_type") || e.Message == "" {
				t.Fatalf("ParseInstance(%q, %q): unexpected error %#v", typ, raw, err)
			}
			return
		}
		if inst.ID == "" || len(inst.ID) > MaxInstanceLength || !utf8.ValidString(inst.ID) || strings.IndexFunc(inst.ID, unicode.IsControl) >= 0 {
			t.Fatalf("ParseInstance(%q, %q) accepted a bad identifier %q", typ, raw, inst.ID)
		}
		if len(raw) > MaxInstanceLength || strings.TrimSpace(raw) == "" {
			t.Fatalf("ParseInstance(%q, %q) accepted an empty or over-long identifier", typ, raw)
		}
		if strings.IndexFunc(raw, Invisible) >= 0 || strings.IndexFunc(typ, Invisible) >= 0 {
			t.Fatalf("ParseInstance(%q, %q) accepted an invisible character", typ, raw)
		}
		if inst.Type != InstanceMachineID {
			checkPort(t, raw, inst.ID)
		}
		switch inst.Type {
		case InstanceMachineID:
			if inst.ID != raw {
				t.Fatalf("a machine id is exact: %q became %q", raw, inst.ID)
			}
		case InstanceHostname:
			if inst.ID != strings.ToLower(inst.ID) || inst.ID != strings.TrimSpace(inst.ID) || strings.ContainsAny(inst.ID, " /") {
				t.Fatalf("hostname %q: not trimmed lower case without spaces or slashes: %q", raw, inst.ID)
			}
		case InstanceURL:
		default:
			t.Fatalf("ParseInstance(%q, %q) answered type %q", typ, raw, inst.Type)
		}
		if inst.Type != InstanceURL {
			// The canonical form is a fixed point (url: FuzzParseInstanceURL).
			again, err := ParseInstance(string(inst.Type), inst.ID)
			if err != nil || again != inst {
				t.Fatalf("not a fixed point: %q -> %+v -> %+v (%v)", raw, inst, again, err)
			}
		}

		env := ClassifyInstance(inst)
		if !environments[env] {
			t.Fatalf("ClassifyInstance(%+v) = %q", inst, env)
		}
		if ClassifyInstance(inst) != env {
			t.Fatalf("ClassifyInstance(%+v) is not deterministic", inst)
		}
		switch inst.Type {
		case InstanceMachineID:
			if env != EnvProduction {
				t.Fatalf("machine id %q classified %s: machine ids are always production", inst.ID, env)
			}
		case InstanceURL:
			// The path never matters: example.com/staging is example.com.
			host, _, _ := strings.Cut(inst.ID, "/")
			if got := ClassifyInstance(Instance{Type: InstanceURL, ID: host}); got != env {
				t.Fatalf("%q is %s but its host %q is %s", inst.ID, env, host, got)
			}
		}
	})
}

// FuzzClassifyInstance feeds ClassifyInstance identities that never went
// through ParseInstance (it must not trust its input): it never panics,
// answers one of the three environments, the same one every time, and
// production for every machine id.
func FuzzClassifyInstance(f *testing.F) {
	for _, s := range []struct{ typ, id string }{
		{"url", "staging.shop.com"}, {"url", "[::1]:8080/wp"}, {"url", "["}, {"url", "[]"}, {"url", "]"}, {"url", ":"},
		{"url", "/"}, {"url", ""}, {"url", "."}, {"url", "x.kinsta.cloud"}, {"url", "staging-x.kinsta.cloud"},
		{"hostname", "::1"}, {"hostname", "[fe80::1%eth0]"}, {"hostname", "dev.a.b"}, {"hostname", "a.local."},
		{"machine_id", "localhost"}, {"machine_id", "staging.shop.com"}, {"", "localhost"}, {"other", "10.0.0.1"},
		{"url", "\xff\xfe"}, {"url", "2001:db8::1"}, {"url", "[2001:db8::1]"}, {"url", "100.64.0.1"},
	} {
		f.Add(s.typ, s.id)
	}
	f.Fuzz(func(t *testing.T, typ, id string) {
		inst := Instance{Type: InstanceType(typ), ID: id}
		env := ClassifyInstance(inst)
		if !environments[env] {
			t.Fatalf("ClassifyInstance(%+v) = %q", inst, env)
		}
		if again := ClassifyInstance(inst); again != env {
			t.Fatalf("ClassifyInstance(%+v): %s then %s", inst, env, again)
		}
		if inst.Type == InstanceMachineID && env != EnvProduction {
			t.Fatalf("machine id %q classified %s", id, env)
		}
		if inst.Type == InstanceURL {
			// hostOf drops the path and port: a url's environment is its host's.
			if h := hostOf(inst); ClassifyInstance(Instance{Type: InstanceURL, ID: h}) != env {
				t.Fatalf("%q is %s but its host %q is not", id, env, h)
			}
		}
	})
}
