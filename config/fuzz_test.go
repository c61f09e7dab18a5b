package config

import "testing"

// FuzzConfig: any YAML gives a configuration or an error, never a panic;
// an accepted one is complete.
func FuzzConfig(f *testing.F) {
	f.Add("lang: en\ntimezone: UTC\nagents:\n  - {id: ana}\n")
	f.Add("targets:\n  urgente: {first_response: 30m, resolution: 4h}\n")
	f.Add("thresholds: {answer: 0.7, clarify: 0.2}\n")
	f.Add("data: [\n")
	f.Add("&a [*a, *a, *a]")
	f.Fuzz(func(t *testing.T, data string) {
		c := &Config{Data: "data", Lang: "es", Timezone: "UTC", HTTP: "127.0.0.1:8080"}
		if err := Parse([]byte(data), c); err != nil {
			return
		}
		if err := c.Finish(); err != nil {
			return
		}
		if c.loc == nil || len(c.Agents) == 0 {
			t.Fatalf("accepted an incomplete configuration: %+v", c)
		}
	})
}
