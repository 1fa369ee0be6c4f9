package pdfpages

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rc4"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// ErrEncrypted is returned when the pages are inside encrypted object
// streams that cannot be decrypted: a user password is set, or the
// security handler is not the standard one.
var ErrEncrypted = errors.New("PDF is encrypted and cannot be read without a password")

// Decryption is needed for one thing only: object streams of encrypted
// files, which hold the page tree of most modern PDFs. Dictionaries
// outside object streams are never encrypted. Documents that only restrict
// printing or editing have an empty user password, with which anyone can
// decrypt them, as every PDF reader does; that is what this file does.

type cryptAlg int

const (
	cryptNone cryptAlg = iota
	cryptRC4
	cryptAESV2 // AES-128, per-object keys
	cryptAESV3 // AES-256, one key
)

type crypter struct {
	alg cryptAlg
	key []byte
}

// encrypted reports whether the file has an /Encrypt dictionary.
func (d *document) encrypted() bool {
	_, ok := d.trailer["Encrypt"]
	return ok
}

// decrypt decrypts the data of a stream of object id.
func (d *document) decrypt(id ref, data []byte) ([]byte, error) {
	if d.crypt == nil {
		c, err := d.setupCrypt()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrEncrypted, err)
		}
		d.crypt = c
	}
	c := d.crypt
	switch c.alg {
	case cryptNone:
		return data, nil
	case cryptAESV3:
		return aesCBC(c.key, data)
	}
	// Per-object key (algorithm 1 of ISO 32000-1 7.6.2).
	h := md5.New()
	h.Write(c.key)
	h.Write([]byte{byte(id.num), byte(id.num >> 8), byte(id.num >> 16), byte(id.gen), byte(id.gen >> 8)})
	if c.alg == cryptAESV2 {
		h.Write([]byte("sAlT"))
	}
	key := h.Sum(nil)[:min(len(c.key)+5, 16)]
	if c.alg == cryptAESV2 {
		return aesCBC(key, data)
	}
	rc, err := rc4.NewCipher(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(data))
	rc.XORKeyStream(out, data)
	return out, nil
}

// aesCBC decrypts data whose first 16 bytes are the IV, removing the
// PKCS#7 padding.
func aesCBC(key, data []byte) ([]byte, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	if len(data) < 2*aes.BlockSize || len(data)%aes.BlockSize != 0 {
		return nil, errors.New("AES stream data of a bad length")
	}
	out := make([]byte, len(data)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, data[:aes.BlockSize]).CryptBlocks(out, data[aes.BlockSize:])
	if pad := int(out[len(out)-1]); pad >= 1 && pad <= aes.BlockSize {
		out = out[:len(out)-pad]
	}
	return out, nil
}

// padding is the password padding of ISO 32000-1 7.6.3.3.
var padding = [32]byte{
	0x28, 0xBF, 0x4E, 0x5E, 0x4E, 0x75, 0x8A, 0x41, 0x64, 0x00, 0x4E, 0x56, 0xFF, 0xFA, 0x01, 0x08,
	0x2E, 0x2E, 0x00, 0xB6, 0xD0, 0x68, 0x3E, 0x80, 0x2F, 0x0C, 0xA9, 0xFE, 0x64, 0x53, 0x69, 0x7A,
}

// setupCrypt derives the file key from the empty user password and checks
// it against /U.
func (d *document) setupCrypt() (*crypter, error) {
	e, err := d.resolve(d.trailer["Encrypt"], 0)
	if err != nil {
		return nil, err
	}
	enc, ok := e.(dict)
	if !ok {
		return nil, errors.New("bad /Encrypt")
	}
	if enc["Filter"] != name("Standard") {
		return nil, fmt.Errorf("security handler %v", enc["Filter"])
	}
	v, _ := asInt(enc["V"])
	r, _ := asInt(enc["R"])
	o, _ := enc["O"].(pdfString)
	u, _ := enc["U"].(pdfString)

	alg := cryptRC4
	if v == 4 || v == 5 {
		// Crypt filters: the one named by /StmF applies to streams.
		stmf, _ := enc["StmF"].(name)
		if stmf == "" || stmf == "Identity" {
			return &crypter{alg: cryptNone}, nil
		}
		cfs, _ := enc["CF"].(dict)
		cf, _ := cfs[stmf].(dict)
		switch cf["CFM"] {
		case name("V2"):
			alg = cryptRC4
		case name("AESV2"):
			alg = cryptAESV2
		case name("AESV3"):
			alg = cryptAESV3
		case name("None"):
			return &crypter{alg: cryptNone}, nil
		default:
			return nil, fmt.Errorf("crypt filter method %v", cf["CFM"])
		}
	}

	if r >= 5 {
		ue, _ := enc["UE"].(pdfString)
		if len(u) < 48 || len(ue) < 32 {
			return nil, errors.New("bad /U or /UE")
		}
		ub := []byte(u)
		if !bytes.Equal(hashR6(nil, ub[32:40], r), ub[:32]) {
			return nil, errors.New("a user password is set")
		}
		ik := hashR6(nil, ub[40:48], r)
		block, err := aes.NewCipher(ik)
		if err != nil {
			return nil, err
		}
		key := make([]byte, 32)
		cipher.NewCBCDecrypter(block, make([]byte, aes.BlockSize)).CryptBlocks(key, []byte(ue)[:32])
		return &crypter{alg: cryptAESV3, key: key}, nil
	}

	// Revisions 2-4 (algorithm 2).
	n := int64(5)
	if r >= 3 {
		if l, ok := asInt(enc["Length"]); ok && l >= 40 && l <= 128 && l%8 == 0 {
			n = l / 8
		}
		if alg == cryptAESV2 {
			n = 16
		}
	}
	p, _ := asInt(enc["P"])
	var id0 []byte
	if ids, ok := d.trailer["ID"].(array); ok && len(ids) > 0 {
		s, _ := ids[0].(pdfString)
		id0 = []byte(s)
	}
	if len(o) < 32 || len(u) < 32 {
		return nil, errors.New("bad /O or /U")
	}
	h := md5.New()
	h.Write(padding[:])
	h.Write([]byte(o)[:32])
	binary.Write(h, binary.LittleEndian, uint32(int32(p)))
	h.Write(id0)
	if meta, ok := enc["EncryptMetadata"].(bool); r >= 4 && ok && !meta {
		h.Write([]byte{0xff, 0xff, 0xff, 0xff})
	}
	key := h.Sum(nil)
	if r >= 3 {
		for i := 0; i < 50; i++ {
			s := md5.Sum(key[:n])
			key = s[:]
		}
	}
	key = key[:n]

	// Check the key against /U (algorithms 4 and 5).
	if r == 2 {
		c, _ := rc4.NewCipher(key)
		got := make([]byte, 32)
		c.XORKeyStream(got, padding[:])
		if !bytes.Equal(got, []byte(u)[:32]) {
			return nil, errors.New("a user password is set")
		}
	} else {
		h := md5.New()
		h.Write(padding[:])
		h.Write(id0)
		got := h.Sum(nil)
		k := make([]byte, len(key))
		for i := 0; i < 20; i++ {
			for j := range key {
				k[j] = key[j] ^ byte(i)
			}
			c, _ := rc4.NewCipher(k)
			c.XORKeyStream(got, got)
		}
		if !bytes.Equal(got, []byte(u)[:16]) {
			return nil, errors.New("a user password is set")
		}
	}
	return &crypter{alg: alg, key: key}, nil
}

// hashR6 is the hash of revision 6 (ISO 32000-2 algorithm 2.B), or plain
// SHA-256 for revision 5, of a password with a salt (user key: no udata).
func hashR6(password, salt []byte, r int64) []byte {
	h := sha256.New()
	h.Write(password)
	h.Write(salt)
	k := h.Sum(nil)
	if r < 6 {
		return k
	}
	for round := 0; ; round++ {
		k1 := bytes.Repeat(append(append([]byte{}, password...), k...), 64)
		block, _ := aes.NewCipher(k[:16])
		e := make([]byte, len(k1))
		cipher.NewCBCEncrypter(block, k[16:32]).CryptBlocks(e, k1)
		sum := 0
		for _, b := range e[:16] {
			sum += int(b)
		}
		var hh hash.Hash
		switch sum % 3 {
		case 0:
			hh = sha256.New()
		case 1:
			hh = sha512.New384()
		default:
			hh = sha512.New()
		}
		hh.Write(e)
		k = hh.Sum(nil)
		if round >= 63 && int(e[len(e)-1]) <= round-31 {
			break
		}
	}
	return k[:32]
}
