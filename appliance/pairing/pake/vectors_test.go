package pake

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/scrypt"
)

// rfcVector is one test vector of RFC 9382 Appendix B
// (SPAKE2-P256-SHA256-HKDF-HMAC, no AAD). TT and K are given for every
// vector; Ke || Ka is Hash(TT).
type rfcVector struct {
	name, idA, idB           string
	w, x, y                  string
	pA, pB, k, tt            string
	ke, ka, kcA, kcB, cA, cB string
}

var rfcVectors = []rfcVector{{
	name: "A=server,B=client", idA: "server", idB: "client",
	w:   "2ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f",
	x:   "43dd0fd7215bdcb482879fca3220c6a968e66d70b1356cac18bb26c84a78d729",
	y:   "dcb60106f276b02606d8ef0a328c02e4b629f84f89786af5befb0bc75b6e66be",
	pA:  "04a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c",
	pB:  "0406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b7",
	k:   "0412af7e89717850671913e6b469ace67bd90a4df8ce45c2af19010175e37eed69f75897996d539356e2fa6a406d528501f907e04d97515fbe83db277b715d3325",
	tt:  "06000000000000007365727665720600000000000000636c69656e74410000000000000004a56fa807caaa53a4d28dbb9853b9815c61a411118a6fe516a8798434751470f9010153ac33d0d5f2047ffdb1a3e42c9b4e6be662766e1eeb4116988ede5f912c41000000000000000406557e482bd03097ad0cbaa5df82115460d951e3451962f1eaf4367a420676d09857ccbc522686c83d1852abfa8ed6e4a1155cf8f1543ceca528afb591a1e0b741000000000000000412af7e89717850671913e6b469ace67bd90a4df8ce45c2af19010175e37eed69f75897996d539356e2fa6a406d528501f907e04d97515fbe83db277b715d332520000000000000002ee57912099d31560b3a44b1184b9b4866e904c49d12ac5042c97dca461b1a5f",
	ke:  "0e0672dc86f8e45565d338b0540abe69",
	ka:  "15bdf72e2b35b5c9e5663168e960a91b",
	kcA: "00c12546835755c86d8c0db7851ae86f",
	kcB: "a9fa3406c3b781b93d804485430ca27a",
	cA:  "58ad4aa88e0b60d5061eb6b5dd93e80d9c4f00d127c65b3b35b1b5281fee38f0",
	cB:  "d3e2e547f1ae04f2dbdbf0fc4b79f8ecff2dff314b5d32fe9fcef2fb26dc459b",
}, {
	name: "A=empty,B=client", idA: "", idB: "client",
	w:   "0548d8729f730589e579b0475a582c1608138ddf7054b73b5381c7e883e2efae",
	x:   "403abbe3b1b4b9ba17e3032849759d723939a27a27b9d921c500edde18ed654b",
	y:   "903023b6598908936ea7c929bd761af6039577a9c3f9581064187c3049d87065",
	pA:  "04a897b769e681c62ac1c2357319a3d363f610839c4477720d24cbe32f5fd85f44fb92ba966578c1b712be6962498834078262caa5b441ecfa9d4a9485720e918a",
	pB:  "04e0f816fd1c35e22065d5556215c097e799390d16661c386e0ecc84593974a61b881a8c82327687d0501862970c64565560cb5671f696048050ca66ca5f8cc7fc",
	k:   "048f83ec9f6e4f87cc6f9dc740bdc2769725f923364f01c84148c049a39a735ebda82eac03e00112fd6a5710682767cff5361f7e819e53d8d3c3a2922e0d837aa6",
	tt:  "00000000000000000600000000000000636c69656e74410000000000000004a897b769e681c62ac1c2357319a3d363f610839c4477720d24cbe32f5fd85f44fb92ba966578c1b712be6962498834078262caa5b441ecfa9d4a9485720e918a410000000000000004e0f816fd1c35e22065d5556215c097e799390d16661c386e0ecc84593974a61b881a8c82327687d0501862970c64565560cb5671f696048050ca66ca5f8cc7fc4100000000000000048f83ec9f6e4f87cc6f9dc740bdc2769725f923364f01c84148c049a39a735ebda82eac03e00112fd6a5710682767cff5361f7e819e53d8d3c3a2922e0d837aa620000000000000000548d8729f730589e579b0475a582c1608138ddf7054b73b5381c7e883e2efae",
	ke:  "642f05c473c2cd79909f9a841e2f30a7",
	ka:  "0bf89b18180af97353ba198789c2b963",
	kcA: "c6be376fc7cd1301fd0a13adf3e7bffd",
	kcB: "b7243f4ae60440a49b3f8cab3c1fba07",
	cA:  "47d29e6666af1b7dd450d571233085d7a9866e4d49d2645e2df975489521232b",
	cB:  "3313c5cefc361d27fb16847a91c2a73b766ffa90a4839122a9b70a2f6bd1d6df",
}, {
	name: "A=server,B=empty", idA: "server", idB: "",
	w:   "626e0cdc7b14c9db3e52a0b1b3a768c98e37852d5db30febe0497b14eae8c254",
	x:   "07adb3db6bc623d3399726bfdbfd3d15a58ea776ab8a308b00392621291f9633",
	y:   "b6a4fc8dbb629d4ba51d6f91ed1532cf87adec98f25dd153a75accafafedec16",
	pA:  "04f88fb71c99bfffaea370966b7eb99cd4be0ff1a7d335caac4211c4afd855e2e15a873b298503ad8ba1d9cbb9a392d2ba309b48bfd7879aefd0f2cea6009763b0",
	pB:  "040c269d6be017dccb15182ac6bfcd9e2a14de019dd587eaf4bdfd353f031101e7cca177f8eb362a6e83e7d5e729c0732e1b528879c086f39ba0f31a9661bd34db",
	k:   "0445ee233b8ecb51ebd6e7da3f307e88a1616bae2166121221fdc0dadb986afaf3ec8a988dc9c626fa3b99f58a7ca7c9b844bb3e8dd9554aafc5b53813504c1cbe",
	tt:  "06000000000000007365727665720000000000000000410000000000000004f88fb71c99bfffaea370966b7eb99cd4be0ff1a7d335caac4211c4afd855e2e15a873b298503ad8ba1d9cbb9a392d2ba309b48bfd7879aefd0f2cea6009763b04100000000000000040c269d6be017dccb15182ac6bfcd9e2a14de019dd587eaf4bdfd353f031101e7cca177f8eb362a6e83e7d5e729c0732e1b528879c086f39ba0f31a9661bd34db41000000000000000445ee233b8ecb51ebd6e7da3f307e88a1616bae2166121221fdc0dadb986afaf3ec8a988dc9c626fa3b99f58a7ca7c9b844bb3e8dd9554aafc5b53813504c1cbe2000000000000000626e0cdc7b14c9db3e52a0b1b3a768c98e37852d5db30febe0497b14eae8c254",
	ke:  "005184ff460da2ce59062c87733c299c",
	ka:  "3521297d736598fc0a1127600efa1afb",
	kcA: "f3da53604f0aeecea5a33be7bddf6edf",
	kcB: "9e3f86848736f159bd92b6e107ec6799",
	cA:  "bc9f9bbe99f26d0b2260e6456e05a86196a3307ec6663a18bf6ac825736533b2",
	cB:  "c2370e1bf813b086dff0d834e74425a06e6390f48f5411900276dcccc5a297ec",
}, {
	name: "A=empty,B=empty", idA: "", idB: "",
	w:   "7bf46c454b4c1b25799527d896508afd5fc62ef4ec59db1efb49113063d70cca",
	x:   "8cef65df64bb2d0f83540c53632de911b5b24b3eab6cc74a97609fd659e95473",
	y:   "d7a66f64074a84652d8d623a92e20c9675c61cb5b4f6a0063e4648a2fdc02d53",
	pA:  "04a65b367a3f613cf9f0654b1b28a1e3a8a40387956c8ba6063e8658563890f46ca1ef6a676598889fc28de2950ab8120b79a5ef1ea4c9f44bc98f585634b46d66",
	pB:  "04589f13218822710d98d8b2123a079041052d9941b9cf88c6617ddb2fcc0494662eea8ba6b64692dc318250030c6af045cb738bc81ba35b043c3dcb46adf6f58d",
	k:   "041a3c03d51b452537ca2a1fea6110353c6d5ed483c4f0f86f4492ca3f378d40a994b4477f93c64d928edbbcd3e85a7c709b7ea73ee97986ce3d1438e135543772",
	tt:  "00000000000000000000000000000000410000000000000004a65b367a3f613cf9f0654b1b28a1e3a8a40387956c8ba6063e8658563890f46ca1ef6a676598889fc28de2950ab8120b79a5ef1ea4c9f44bc98f585634b46d66410000000000000004589f13218822710d98d8b2123a079041052d9941b9cf88c6617ddb2fcc0494662eea8ba6b64692dc318250030c6af045cb738bc81ba35b043c3dcb46adf6f58d4100000000000000041a3c03d51b452537ca2a1fea6110353c6d5ed483c4f0f86f4492ca3f378d40a994b4477f93c64d928edbbcd3e85a7c709b7ea73ee97986ce3d1438e13554377220000000000000007bf46c454b4c1b25799527d896508afd5fc62ef4ec59db1efb49113063d70cca",
	ke:  "fc6374762ba5cf11f4b2caa08b2cd1b9",
	ka:  "907ae0e26e8d6234318d91583cd74c86",
	kcA: "5dbd2f477166b7fb6d61febbd77a5563",
	kcB: "7689b4654407a5faeffdc8f18359d8a3",
	cA:  "dfb4db8d48ae5a675963ea5e6c19d98d4ea028d8e898dad96ea19a80ade95dca",
	cB:  "d0f0609d1613138d354f7e95f19fb556bf52d751947241e8c7118df5ef0ae175",
}}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func unhex32(t testing.TB, s string) [scalarSize]byte {
	t.Helper()
	return [scalarSize]byte(unhex(t, s))
}

// corePair returns a listener and a monitor built from explicit w, x and y,
// bypassing the MHF and the random source.
func corePair(t testing.TB, idA, idB, aad []byte, w, x, y [scalarSize]byte) (*Initiator, *Responder) {
	t.Helper()
	ls, err := newExchange(idA, idB, aad, w, x)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := newExchange(idA, idB, aad, w, y)
	if err != nil {
		t.Fatal(err)
	}
	return &Initiator{ls}, &Responder{ms}
}

func expectHex(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if h := hex.EncodeToString(got); h != want {
		t.Errorf("%s = %s\n want %s", what, h, want)
	}
}

// TestRFC9382Vectors runs both state machines on every Appendix B vector and
// matches every intermediate value.
func TestRFC9382Vectors(t *testing.T) {
	for _, v := range rfcVectors {
		t.Run(v.name, func(t *testing.T) {
			l, m := corePair(t, []byte(v.idA), []byte(v.idB), nil,
				unhex32(t, v.w), unhex32(t, v.x), unhex32(t, v.y))
			pA, err := l.Start()
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "pA", pA, v.pA)
			pB, err := m.Respond(pA)
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "pB", pB, v.pB)
			cA, err := l.Finish(pB)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []*exchange{l.s, m.s} {
				expectHex(t, "TT", s.tt, v.tt)
				// K sits at a fixed offset: after A, B, pA and pB.
				off := 4*8 + len(v.idA) + len(v.idB) + 2*ShareSize + 8
				expectHex(t, "K", s.tt[off:off+ShareSize], v.k)
				h := sha256.Sum256(s.tt)
				expectHex(t, "Hash(TT)", h[:], v.ke+v.ka)
				expectHex(t, "Ke", s.k.ke, v.ke)
				expectHex(t, "Ka", s.k.ka, v.ka)
				expectHex(t, "KcA", s.k.kcA, v.kcA)
				expectHex(t, "KcB", s.k.kcB, v.kcB)
			}
			expectHex(t, "cA", cA, v.cA)
			cB, mKey, err := m.Confirm(cA)
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "cB", cB, v.cB)
			expectHex(t, "monitor Ke", mKey, v.ke)
			lKey, err := l.Verify(cB)
			if err != nil {
				t.Fatal(err)
			}
			expectHex(t, "listener Ke", lKey, v.ke)
		})
	}
}

// TestPointsFromSeeds regenerates M and N with the algorithm of RFC 9382
// Appendix A, so the constants are checked independently of the vectors.
func TestPointsFromSeeds(t *testing.T) {
	gen := func(seed string) []byte {
		iterated := func(n int) []byte {
			h := []byte(seed)
			for range n {
				s := sha256.Sum256(h)
				h = s[:]
			}
			return h
		}
		for i := 1; i < 1000; i++ {
			s := append(iterated(i), iterated(i+1)...)[:33]
			s[0] = s[0]&1 | 2
			if e := p256.NewElement(); e.UnmarshalBinary(s) == nil && !e.IsIdentity() {
				return s
			}
		}
		t.Fatalf("no point for seed %q", seed)
		return nil
	}
	for _, c := range []struct {
		name string
		want []byte
	}{{"M", mustCompressed(t, pointM)}, {"N", mustCompressed(t, pointN)}} {
		got := gen("1.2.840.10045.3.1.7 point generation seed (" + c.name + ")")
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s from seed = %x, constant is %x", c.name, got, c.want)
		}
	}
}

func mustCompressed(t *testing.T, e interface{ MarshalBinaryCompress() ([]byte, error) }) []byte {
	t.Helper()
	b, err := e.MarshalBinaryCompress()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var update = flag.Bool("update", false, "rewrite testdata/cradle-v1.json")

// cradleVector is Cradle's own end-to-end vector: the RFC vectors do not
// cover the MHF, 32-byte identities or the AAD. A phone implementation
// should reproduce every field.
type cradleVector struct {
	Suite         string `json:"suite"`
	Code          string `json:"code"`
	ListenerID    string `json:"listener_id_A"`
	MonitorID     string `json:"monitor_id_B"`
	Binding       string `json:"binding_AAD"`
	MHFSalt       string `json:"mhf_salt"`
	MHFOutput     string `json:"mhf_output"`
	W             string `json:"w"`
	X             string `json:"x"`
	Y             string `json:"y"`
	PA            string `json:"pA"`
	PB            string `json:"pB"`
	K             string `json:"K"`
	TT            string `json:"TT"`
	Ke            string `json:"Ke"`
	Ka            string `json:"Ka"`
	KcA           string `json:"KcA"`
	KcB           string `json:"KcB"`
	CA            string `json:"cA"`
	CB            string `json:"cB"`
	ScryptN       int    `json:"scrypt_N"`
	ScryptR       int    `json:"scrypt_r"`
	ScryptP       int    `json:"scrypt_p"`
	ExporterLabel string `json:"exporter_label"`
}

// TestCradleVector checks (or with -update writes) testdata/cradle-v1.json,
// running the public MHF and both state machines.
func TestCradleVector(t *testing.T) {
	p := testParams("31415926")
	x := reduce(bytes.Repeat([]byte{0x11}, wideSize))
	y := reduce(bytes.Repeat([]byte{0x22}, wideSize))
	w, err := deriveW(p.Code, p.ListenerID[:], p.MonitorID[:])
	if err != nil {
		t.Fatal(err)
	}
	l, m := corePair(t, p.ListenerID[:], p.MonitorID[:], p.Binding, w, x, y)
	pA, err := l.Start()
	if err != nil {
		t.Fatal(err)
	}
	pB, err := m.Respond(pA)
	if err != nil {
		t.Fatal(err)
	}
	cA, err := l.Finish(pB)
	if err != nil {
		t.Fatal(err)
	}
	s := l.s
	got := cradleVector{
		Suite: Suite, Code: p.Code,
		ListenerID: hex.EncodeToString(p.ListenerID[:]), MonitorID: hex.EncodeToString(p.MonitorID[:]),
		Binding: hex.EncodeToString(p.Binding),
		W:       hex.EncodeToString(w[:]), X: hex.EncodeToString(x[:]), Y: hex.EncodeToString(y[:]),
		PA: hex.EncodeToString(pA), PB: hex.EncodeToString(pB),
		K:  hex.EncodeToString(s.tt[4*8+2*IDSize+2*ShareSize+8:][:ShareSize]),
		TT: hex.EncodeToString(s.tt), Ke: hex.EncodeToString(s.k.ke), Ka: hex.EncodeToString(s.k.ka),
		KcA: hex.EncodeToString(s.k.kcA), KcB: hex.EncodeToString(s.k.kcB), CA: hex.EncodeToString(cA),
		ScryptN: scryptN, ScryptR: scryptR, ScryptP: scryptP, ExporterLabel: ExporterLabel,
	}
	salt := appendLV(appendLV(appendLV(nil, []byte(mhfLabel)), p.ListenerID[:]), p.MonitorID[:])
	got.MHFSalt = hex.EncodeToString(salt)
	out := mhfOutput(t, p.Code, salt)
	got.MHFOutput = hex.EncodeToString(out)
	if r := reduce(out); r != w {
		t.Fatalf("w != mhf_output mod n")
	}
	cB, mKey, err := m.Confirm(cA)
	if err != nil {
		t.Fatal(err)
	}
	got.CB = hex.EncodeToString(cB)
	lKey, err := l.Verify(cB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lKey, mKey) || hex.EncodeToString(lKey) != got.Ke {
		t.Fatalf("keys differ: listener %x monitor %x Ke %s", lKey, mKey, got.Ke)
	}

	path := filepath.Join("testdata", "cradle-v1.json")
	enc, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	enc = append(enc, '\n')
	if *update {
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestCradleVector -update to create it)", err)
	}
	if !bytes.Equal(enc, want) {
		t.Errorf("vector changed; this breaks every deployed listener app.\n got: %s\nwant: %s",
			strings.TrimSpace(string(enc)), strings.TrimSpace(string(want)))
	}
}

func mhfOutput(t *testing.T, code string, salt []byte) []byte {
	t.Helper()
	out, err := scrypt.Key([]byte(code), salt, scryptN, scryptR, scryptP, wideSize)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
