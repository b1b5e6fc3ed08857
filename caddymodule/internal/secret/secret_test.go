package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The one table of secret resolution shared by both modules.
func TestResolve(t *testing.T) {
	t.Setenv("SCGATE_TEST_SECRET", "from-env-0123456789")
	t.Setenv("SCGATE_TEST_EMPTY", "")
	t.Setenv("SCGATE_TEST_SHORT", "short-env")
	t.Setenv("SCGATE_TEST_BLANK", "                    ")
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	file := write("secret", "from-file-0123456789\n")
	emptyFile := write("empty", "")
	shortFile := write("short", "short-file\n")
	blankFile := write("blank", " \t \n")
	tests := []struct {
		secret  string
		want    string // the resolved secret
		wantErr string // or a part of the error
	}{
		{secret: "{env.SCGATE_TEST_SECRET}", want: "from-env-0123456789"},
		{secret: "lit-{env.SCGATE_TEST_SECRET}", want: "lit-from-env-0123456789"},
		{secret: "{file." + file + "}", want: "from-file-0123456789"},
		{secret: `literal-with-\{brace\}`, want: "literal-with-{brace}"},
		{secret: `literal-with-\{brace}`, wantErr: "unmatched brace"}, // write the closing one \} too
		{secret: "plain-literal-secret", want: "plain-literal-secret"},
		// A typo must not leave the placeholder's text as a guessable secret.
		{secret: "{evn.SCGATE_TEST_SECRET}", wantErr: "unknown placeholder {evn.SCGATE_TEST_SECRET}"},
		{secret: "hunter2-hunter2-{typo}", wantErr: "unknown placeholder (not shown"},
		// Placeholders other than env and file give guessable values.
		{secret: "{system.os}", wantErr: "has the placeholder {system.os}, whose value anyone can guess: a secret may come only from {env.NAME}, {file./path} or literal text"},
		{secret: "{time.now.year}", wantErr: "has the placeholder {time.now.year}, whose value anyone can guess"},
		{secret: "{system.hostname}", wantErr: "has the placeholder {system.hostname}"},
		{secret: "{time.now.unix}-{system.arch}-{system.wd}", wantErr: "has the placeholder {time.now.unix}"},
		{secret: "{env.SCGATE_TEST_SECRET}{system.os}", wantErr: "has the placeholder {system.os}"},
		{secret: "{env.SCGATE_TEST_EMPTY}", wantErr: "environment variable SCGATE_TEST_EMPTY is unset or empty"},
		{secret: "hunter2-hunter2-{env.SCGATE_TEST_EMPTY}", wantErr: "environment variable SCGATE_TEST_EMPTY is unset or empty"},
		{secret: "{env.SCGATE_TEST_UNSET_VARIABLE}", wantErr: "environment variable SCGATE_TEST_UNSET_VARIABLE is unset or empty"},
		{secret: "{file." + filepath.Join(dir, "missing") + "}", wantErr: "file " + filepath.Join(dir, "missing") + " is missing, unreadable or empty"},
		{secret: "{file." + emptyFile + "}", wantErr: "is missing, unreadable or empty"},
		// The replacer keeps these as literal text: refused.
		{secret: "{env.SCGATE_TEST_SECRET", wantErr: "unmatched brace"},
		{secret: "hunter2}", wantErr: "unmatched brace"},
		{secret: "a{}b", wantErr: "unmatched brace"},
		{secret: "{a{env.SCGATE_TEST_SECRET}}", wantErr: "unmatched brace"},
		{secret: "", wantErr: "is empty"},
		// Blank or short secrets, whatever their source.
		{secret: " ", wantErr: "is only whitespace"},
		{secret: "                    ", wantErr: "is only whitespace"},
		{secret: "\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t", wantErr: "is only whitespace"},
		{secret: "{env.SCGATE_TEST_BLANK}", wantErr: "is only whitespace"},
		{secret: "{file." + blankFile + "}", wantErr: "is only whitespace"},
		{secret: "hunter2", wantErr: "is shorter than 16 bytes"},
		{secret: "fifteen-bytes!!", wantErr: "is shorter than 16 bytes"},
		{secret: "sixteen-bytes!!!", want: "sixteen-bytes!!!"},
		{secret: "{env.SCGATE_TEST_SHORT}", wantErr: "is shorter than 16 bytes"},
		{secret: "{file." + shortFile + "}", wantErr: "is shorter than 16 bytes"},
		{secret: "dev-secret", wantErr: "is shorter than 16 bytes"},
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
			for _, value := range []string{"hunter2", "from-env", "from-file", "short-env", "short-file", "fifteen", "dev-secret", "linux"} {
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
