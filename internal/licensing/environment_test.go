package licensing

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassifyInstance(t *testing.T) {
	tests := []struct {
		typ, id string
		want    Environment
	}{
		// local
		{"url", "http://localhost:8080/wp", EnvLocal},
		{"url", "http://127.0.0.1/", EnvLocal},
		{"url", "http://[::1]:8080", EnvLocal},
		{"url", "http://10.0.0.5", EnvLocal},
		{"url", "http://172.16.3.4", EnvLocal},
		{"url", "http://192.168.1.20/shop", EnvLocal},
		{"url", "http://100.64.1.1", EnvLocal},
		{"url", "http://198.51.100.7", EnvLocal},
		{"url", "https://mysite.test", EnvLocal},
		{"url", "https://mysite.local/", EnvLocal},
		{"url", "https://wp.localhost", EnvLocal},
		{"url", "https://shop.example", EnvLocal},
		{"url", "https://broken.invalid", EnvLocal},
		{"hostname", "build-box.internal", EnvLocal},
		{"hostname", "::1", EnvLocal},
		{"hostname", "fd00::1", EnvLocal},
		{"hostname", "fe80::1", EnvLocal},
		{"hostname", "10.1.2.3", EnvLocal},
		{"hostname", "192.168.1.1:8080", EnvLocal},
		{"hostname", "localhost", EnvLocal},
		{"url", "http://192.168.1.1:8080/", EnvLocal},
		{"url", "http://[fd00::1]/", EnvLocal},
		// staging
		{"url", "https://staging.example.com", EnvStaging},
		{"url", "https://stage.shop.co.uk/", EnvStaging},
		{"url", "https://dev.bakery.com/blog", EnvStaging},
		{"url", "https://test.bakery.com", EnvStaging},
		{"url", "https://mysite.wpengine.com", EnvStaging},
		{"url", "https://mysite.wpenginepowered.com", EnvStaging},
		{"url", "https://staging-mysite.kinsta.cloud", EnvStaging},
		{"url", "https://dev-mysite.pantheonsite.io", EnvStaging},
		{"url", "https://test-mysite.pantheonsite.io", EnvStaging},
		{"url", "https://quick-fox.instawp.xyz", EnvStaging},
		{"url", "https://abc123.ngrok-free.app", EnvStaging},
		// production: whole labels and suffixes, never substrings
		{"url", "https://devon-bakery.co.uk", EnvProduction},
		{"url", "https://shop.devices.com", EnvProduction},
		{"url", "https://www.latestnews.co.uk", EnvProduction},
		{"url", "https://staging.com", EnvProduction},
		{"url", "https://dev.to", EnvProduction},
		{"url", "https://teststore.com", EnvProduction},
		{"url", "https://example.com/staging", EnvProduction},
		{"url", "https://mysite.kinsta.cloud", EnvProduction},
		{"url", "https://live-mysite.pantheonsite.io", EnvProduction},
		{"url", "https://notwpengine.com", EnvProduction},
		{"url", "https://8.8.8.8", EnvProduction},
		{"url", "https://example.com", EnvProduction},
		{"url", "https://xn--bcher-kva.de", EnvProduction},
		{"machine_id", "staging.localhost", EnvProduction},
		{"hostname", "2606:4700::1111", EnvProduction},
		{"hostname", "shop.devices.com", EnvProduction},
		{"hostname", "staging.bakery.com", EnvStaging},
		{"url", "https://www.www.staging.bakery.com", EnvStaging},
	}
	for _, tt := range tests {
		inst, err := ParseInstance(tt.typ, tt.id)
		require.NoError(t, err, tt.id)
		assert.Equal(t, tt.want, ClassifyInstance(inst), "%s %s (%s)", tt.typ, tt.id, inst.ID)
	}
}
