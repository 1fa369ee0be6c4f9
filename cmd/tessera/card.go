package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/tessera-print/tessera/cardreader/cardnum"
)

const cardUsage = `usage: tessera card <command> [arguments]

commands:
  convert --pipeline P RAW          print the number the pipeline P makes of RAW
  explain RAW                       print every common rendering of RAW
  infer RAW=NUMBER RAW=NUMBER ...   find a pipeline that maps each RAW to its
                                    NUMBER (3 pairs or more)

A pipeline is steps separated by "|" (see docs: hex2dec, dec2hex, ascii-hex,
reverse-bytes, reverse-bits, left(n), right(n), mid(start,len), ltrim(c),
rtrim(c), lpad(n,c), rpad(n,c), prepend(s), append(s), regex(expr),
wiegand26|34|35|37 with (fc) for facility:card).

These are local tools: they print card numbers in full. Exit status 1 means
refused (the read does not convert, or no pipeline was found), 2 a usage error.
`

// exitError is an error with the exit status it calls for. `tessera card`
// returns one with status 1 when it refuses (a conversion fails, infer
// finds nothing); main prints the message on stderr, like any error, and
// exits with ExitCode. Usage errors are plain errors (status 2).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process exit status.
func (e *exitError) ExitCode() int { return e.code }

func refused(format string, args ...any) error {
	return &exitError{code: 1, msg: fmt.Sprintf(format, args...)}
}

// runCard is `tessera card ...`.
func runCard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, cardUsage)
		return errors.New("card: no command (want convert, explain or infer)")
	}
	switch args[0] {
	case "convert":
		return cardConvert(args[1:], stdout, stderr)
	case "explain":
		return cardExplain(args[1:], stdout, stderr)
	case "infer":
		return cardInfer(args[1:], stdout, stderr)
	case "help", "--help", "-h":
		fmt.Fprint(stdout, cardUsage)
		return nil
	}
	fmt.Fprint(stderr, cardUsage)
	return fmt.Errorf("card: unknown command %q (want convert, explain or infer)", args[0])
}

// cardPositional parses fs's flags wherever they stand among the
// positional arguments ("convert RAW --pipeline P" works too), and returns
// the positional ones. "--" ends the flags, for a read that starts with "-".
func cardPositional(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func cardConvert(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera card convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("pipeline", "", "the conversion pipeline, e.g. \"ascii-hex|reverse-bytes|hex2dec\"")
	pos, err := cardPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("card convert: want one RAW read, got %d (usage: tessera card convert --pipeline P RAW)", len(pos))
	}
	if !isFlagSet(fs, "pipeline") {
		return errors.New("card convert: --pipeline is required (an empty one converts nothing: --pipeline \"\")")
	}
	p, err := cardnum.Parse(*spec)
	if err != nil {
		return refused("card convert: pipeline %q: %v", *spec, err)
	}
	v, err := p.Convert(pos[0])
	if err != nil {
		return refused("card convert: %v", err)
	}
	_, err = fmt.Fprintln(stdout, v)
	return err
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func cardExplain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera card explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := cardPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("card explain: want one RAW read, got %d", len(pos))
	}
	raw := pos[0]
	if len(raw) > cardnum.MaxInput {
		return refused("card explain: read of %d bytes is longer than %d", len(raw), cardnum.MaxInput)
	}
	rs := cardnum.Renderings(raw)
	if len(rs) == 0 {
		return refused("card explain: no common rendering applies (the read is neither hex nor decimal); try a regex or ascii-hex step with convert")
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RENDERING\tVALUE\tPIPELINE")
	for _, r := range rs {
		spec := r.Pipeline
		if spec == "" {
			spec = `""`
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Value, spec)
	}
	return tw.Flush()
}

func cardInfer(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tessera card infer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pos, err := cardPositional(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < cardnum.MinInferPairs {
		return fmt.Errorf("card infer: want %d RAW=NUMBER pairs or more, got %d", cardnum.MinInferPairs, len(pos))
	}
	pairs := make([][2]string, len(pos))
	for i, a := range pos {
		// The number is after the last "=": a raw read may hold "="
		// (magnetic stripes do), a card number does not.
		j := strings.LastIndexByte(a, '=')
		if j <= 0 || j == len(a)-1 {
			return fmt.Errorf("card infer: argument %d: want RAW=NUMBER", i+1)
		}
		pairs[i] = [2]string{a[:j], a[j+1:]}
	}
	p, err := cardnum.Infer(pairs)
	if errors.Is(err, cardnum.ErrNoPipeline) {
		return refused("card infer: none found: no pipeline of the kinds searched maps every pair (check the pairs; a regex step may be needed)")
	}
	if err != nil {
		return fmt.Errorf("card infer: %w", err)
	}
	if p.Len() == 0 {
		fmt.Fprintln(stderr, "card infer: the reads are the numbers: the empty pipeline")
	}
	_, err = fmt.Fprintln(stdout, p.String())
	return err
}
