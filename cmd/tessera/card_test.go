package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestCard(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantOut  string // exact stdout, when wantCode is 0
		wantCode int    // 0: success; 1: refused (exitError); 2: usage error
		wantErr  string
	}{
		// The golden vectors of SPEC.md §1.
		{name: "hex2dec", args: []string{"convert", "--pipeline", "hex2dec", "946EBD28"}, wantOut: "2490285352\n"},
		{name: "ascii-hex", args: []string{"convert", "--pipeline", "ascii-hex", "3934364542443238"}, wantOut: "946EBD28\n"},
		{name: "reverse-bytes", args: []string{"convert", "--pipeline=reverse-bytes", "1234AB"}, wantOut: "AB3412\n"},
		{name: "hex2dec 1000AB", args: []string{"convert", "1000AB", "--pipeline", "hex2dec"}, wantOut: "1048747\n"},
		{name: "wiegand26 fc", args: []string{"convert", "--pipeline", "wiegand26(fc)", "0x21A6616"}, wantOut: "013:13067\n"},
		{name: "regex with quotes", args: []string{"convert", "--pipeline", `regex("^;?(\\d{8})")`, ";12345678=99?"}, wantOut: "12345678\n"},
		{name: "empty pipeline", args: []string{"convert", "--pipeline", "", "946EBD28"}, wantOut: "946EBD28\n"},
		{name: "read starting with a dash", args: []string{"convert", "--pipeline", "ltrim(-)", "--", "-42"}, wantOut: "42\n"},

		{name: "wrong parity", args: []string{"convert", "--pipeline", "wiegand26", "0x21A6617"}, wantCode: 1, wantErr: "parity"},
		{name: "not hex", args: []string{"convert", "--pipeline", "hex2dec", "94GZ"}, wantCode: 1, wantErr: "not a hexadecimal"},
		{name: "broken pipeline", args: []string{"convert", "--pipeline", "hex2dec|hexx", "946EBD28"}, wantCode: 1, wantErr: "column 9"},
		{name: "no pipeline", args: []string{"convert", "946EBD28"}, wantCode: 2, wantErr: "--pipeline is required"},
		{name: "two reads", args: []string{"convert", "--pipeline", "hex2dec", "1", "2"}, wantCode: 2, wantErr: "one RAW"},
		{name: "bad flag", args: []string{"convert", "--pipe", "hex2dec", "1"}, wantCode: 2, wantErr: "flag provided but not defined"},

		{name: "infer", args: []string{"infer", "28BD6E94=2490285352", "AB0010=1048747", "01000000=1"}, wantOut: "reverse-bytes|hex2dec\n"},
		{name: "infer wiegand", args: []string{"infer", "0x21A6616=013:13067", "2020002=001:00001", "1FFFFFF=255:65535"}, wantOut: "wiegand26(fc)\n"},
		{name: "infer with = in a read", args: []string{"infer", ";1234=5=5", ";1234=6=6", ";1234=7=7"}, wantOut: "right(1)\n"},
		{name: "infer none found", args: []string{"infer", "946EBD28=42", "1000AB=77", "FF=3"}, wantCode: 1, wantErr: "none found"},
		{name: "infer two pairs", args: []string{"infer", "946EBD28=2490285352", "1000AB=1048747"}, wantCode: 2, wantErr: "3 RAW=NUMBER pairs"},
		{name: "infer not a pair", args: []string{"infer", "946EBD28", "1000AB=1048747", "FF=255"}, wantCode: 2, wantErr: "RAW=NUMBER"},
		{name: "infer empty number", args: []string{"infer", "946EBD28=", "1000AB=1048747", "FF=255"}, wantCode: 2, wantErr: "RAW=NUMBER"},

		{name: "explain not hex", args: []string{"explain", "hello world"}, wantCode: 1, wantErr: "no common rendering"},
		{name: "explain two", args: []string{"explain", "1", "2"}, wantCode: 2, wantErr: "one RAW"},
		{name: "no command", args: nil, wantCode: 2, wantErr: "no command"},
		{name: "unknown command", args: []string{"decode"}, wantCode: 2, wantErr: "unknown command"},
		{name: "help", args: []string{"help"}, wantOut: cardUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runCard(context.Background(), tt.args, &out, &errOut)
			code := 0
			if err != nil {
				code = 2
				var ee *exitError
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d (%v), want %d", code, err, tt.wantCode)
			}
			if tt.wantCode != 0 {
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want %q", err, tt.wantErr)
				}
				if out.Len() != 0 {
					t.Errorf("stdout %q on refusal", out.String())
				}
				return
			}
			if out.String() != tt.wantOut {
				t.Errorf("stdout %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

func TestCardExplain(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := runCard(context.Background(), []string{"explain", "946EBD28"}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	// Unmasked, every rendering with its pipeline.
	for _, want := range []string{
		"946EBD28", "2490285352", "hex2dec", "28BD6E94", "reverse-bytes",
		"reversed decimal", "683503252", "reverse-bytes|hex2dec",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("explain lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "•") {
		t.Errorf("explain masks:\n%s", out.String())
	}
}

// TestCardThroughRun checks the command is reached from the top.
func TestCardThroughRun(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"card", "convert", "--pipeline", "hex2dec", "946EBD28"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2490285352\n" {
		t.Errorf("stdout %q", out.String())
	}
}
