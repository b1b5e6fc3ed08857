package placeholder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestField(t *testing.T) {
	t.Setenv("SCGATE_PH_SET", "value")
	t.Setenv("SCGATE_PH_EMPTY", "")
	file := filepath.Join(t.TempDir(), "v")
	if err := os.WriteFile(file, []byte("from-file"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ in, want, wantErr string }{
		{"", "", ""},
		{"plain", "plain", ""},
		{"redis://{env.SCGATE_PH_SET}:6379", "redis://value:6379", ""},
		{"{file." + file + "}", "from-file", ""},
		{`a\{b\}`, "a{b}", ""},
		{"{system.os}", "", ""}, // allowed here (not a secret); its value varies
		{"{evn.X}", "", "f has an unknown placeholder {evn.X}"},
		{"{env.SCGATE_PH_EMPTY}", "", "f is empty: environment variable SCGATE_PH_EMPTY is unset or empty"},
		{"x{env.SCGATE_PH_UNSET}y", "", "SCGATE_PH_UNSET is unset or empty"},
		{"{env.X", "", "f has an unmatched brace"},
		{"a{}b", "", "f has an unmatched brace"},
		{"{not a placeholder}", "", "f has an unknown placeholder (not shown"},
	}
	for _, tt := range tests {
		got, err := Field("f", tt.in)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Field(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("Field(%q): %v", tt.in, err)
		case tt.want != "" && got != tt.want:
			t.Errorf("Field(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
