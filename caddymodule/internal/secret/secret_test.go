package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The one table of secret resolution shared by both modules.
func TestResolve(t *testing.T) {
	t.Setenv("SCGATE_TEST_SECRET", "from-env")
	t.Setenv("SCGATE_TEST_EMPTY", "")
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyFile := filepath.Join(dir, "empty")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		secret  string
		want    string // the resolved secret
		wantErr string // or a part of the error
	}{
		{secret: "{env.SCGATE_TEST_SECRET}", want: "from-env"},
		{secret: "lit-{env.SCGATE_TEST_SECRET}", want: "lit-from-env"},
		{secret: "{file." + file + "}", want: "from-file"},
		{secret: `lit\{brace\}`, want: "lit{brace}"},
		{secret: `lit\{brace}`, wantErr: "unmatched brace"}, // write the closing one \} too
		{secret: "plain-literal", want: "plain-literal"},
		// A typo must not leave the placeholder's text as a guessable secret.
		{secret: "{evn.SCGATE_TEST_SECRET}", wantErr: "unknown placeholder {evn.SCGATE_TEST_SECRET}"},
		{secret: "hunter2{typo}", wantErr: "unknown placeholder (not shown"},
		{secret: "{env.SCGATE_TEST_EMPTY}", wantErr: "environment variable SCGATE_TEST_EMPTY is unset or empty"},
		{secret: "hunter2{env.SCGATE_TEST_EMPTY}", wantErr: "environment variable SCGATE_TEST_EMPTY is unset or empty"},
		{secret: "{env.SCGATE_TEST_UNSET_VARIABLE}", wantErr: "environment variable SCGATE_TEST_UNSET_VARIABLE is unset or empty"},
		{secret: "{file." + filepath.Join(dir, "missing") + "}", wantErr: "file " + filepath.Join(dir, "missing") + " is missing, unreadable or empty"},
		{secret: "{file." + emptyFile + "}", wantErr: "is missing, unreadable or empty"},
		// The replacer keeps these as literal text: refused.
		{secret: "{env.SCGATE_TEST_SECRET", wantErr: "unmatched brace"},
		{secret: "hunter2}", wantErr: "unmatched brace"},
		{secret: "a{}b", wantErr: "unmatched brace"},
		{secret: "{a{env.SCGATE_TEST_SECRET}}", wantErr: "unmatched brace"},
		{secret: "", wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(strings.NewReplacer("{", "(", "}", ")", `\`, "", "/", "_").Replace(tt.secret), func(t *testing.T) {
			got, err := Resolve(tt.secret)
			if tt.wantErr == "" {
				if err != nil || string(got) != tt.want {
					t.Fatalf("Resolve(%q) = %q, %v; want %q", tt.secret, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve(%q) = %q, want an error with %q", tt.secret, got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			for _, value := range []string{"hunter2", "from-env", "from-file"} {
				if strings.Contains(err.Error(), value) {
					t.Errorf("the error quotes a secret value: %v", err)
				}
			}
		})
	}
}

func TestIsLiteral(t *testing.T) {
	for s, want := range map[string]bool{
		"hunter2":           true,
		`lit\{brace\}`:      true,
		"{env.X}":           false,
		"pre-{file./x}":     false,
		"{env.X":            false, // an error, reported by Resolve
		"":                  true,
		"{$X} after adapt?": false, // {$X} is gone after adapting; this text is a placeholder
	} {
		if got := IsLiteral(s); got != want {
			t.Errorf("IsLiteral(%q) = %v, want %v", s, got, want)
		}
	}
}
