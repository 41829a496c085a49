package stack

import "testing"

// FuzzParse checks that Parse never panics and that a successful parse
// upholds the documented invariants.
func FuzzParse(f *testing.F) {
	f.Add([]byte(fullTemplate))
	f.Add([]byte("Resources:" + minimalTable))
	f.Add([]byte("Resources: !Ref X"))
	f.Add([]byte("a: &a [*a]\nResources: *a\n"))
	f.Add([]byte("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: !If [C, {}, {}]\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := Parse(data)
		if err != nil {
			return
		}
		if tpl.Table.LogicalID == "" || tpl.Table.HashKey == "" {
			t.Errorf("parsed table without logical ID or hash key: %+v", tpl.Table)
		}
		for _, fn := range tpl.Functions {
			if fn.UseCase == "" {
				t.Errorf("function %s parsed without USE_CASE", fn.LogicalID)
			}
		}
		_ = tpl.Routes()
	})
}
