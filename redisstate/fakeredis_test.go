package redisstate

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRedis is a RESP server on loopback that plays a broken or hostile
// Redis: it completes go-redis's handshake like Redis 7 (unless told not
// to) and answers every command a State sends with its fault.
type fakeRedis struct {
	ln    net.Listener
	fault fault
	// reply is fault.reply, converted once: writing a string would
	// allocate its size at every answer, and the tests measure allocation.
	reply []byte
	done  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	answered int // commands of a State's
}

// fault is what a fakeRedis answers.
type fault struct {
	name  string
	reply string        // the bytes of the answer
	drip  time.Duration // when positive, one byte of reply per drip
	hang  bool          // never answer
	hello bool          // answer the handshake with the fault too
	huge  bool          // the reply announces more than a State reads
	// first, when positive, is how many of a State's commands get the
	// fault; later ones are answered 0.
	first int
}

// helloReply is Redis 7's answer to HELLO 3.
const helloReply = "%7\r\n+server\r\n+redis\r\n+version\r\n+7.0.15\r\n+proto\r\n:3\r\n" +
	"+id\r\n:1\r\n+mode\r\n+standalone\r\n+role\r\n+master\r\n+modules\r\n*0\r\n"

func newFakeRedis(t *testing.T, f fault) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeRedis{ln: ln, fault: f, reply: []byte(f.reply), done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	s.wg.Go(s.serve)
	t.Cleanup(s.close)
	return s
}

func (s *fakeRedis) addr() string { return s.ln.Addr().String() }

func (s *fakeRedis) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.handle(c) })
	}
}

// handle answers the commands of one connection until it or the server
// closes.
func (s *fakeRedis) handle(c net.Conn) {
	defer c.Close()
	rd := bufio.NewReader(c)
	for {
		cmd, err := readCommand(rd)
		if err != nil {
			return
		}
		if !s.answer(c, cmd) {
			return
		}
	}
}

// answer writes the reply to cmd, and reports whether to go on.
func (s *fakeRedis) answer(w io.Writer, cmd []string) bool {
	name := strings.ToUpper(cmd[0])
	if len(cmd) > 1 && name == "CLIENT" {
		name += " " + strings.ToUpper(cmd[1])
	}
	if !s.fault.hello {
		switch name {
		case "HELLO":
			_, err := io.WriteString(w, helloReply)
			return err == nil
		case "CLIENT SETINFO", "SELECT", "PING":
			_, err := io.WriteString(w, "+OK\r\n")
			return err == nil
		case "EVALSHA", "EVAL", "DEL":
		default:
			_, err := fmt.Fprintf(w, "-ERR unknown command '%s'\r\n", name)
			return err == nil
		}
	}
	s.mu.Lock()
	s.answered++
	healed := s.fault.first > 0 && s.answered > s.fault.first
	s.mu.Unlock()
	switch {
	case healed:
		// Admit's "admitted" and Record's "nothing fired" alike.
		_, err := io.WriteString(w, "*3\r\n:0\r\n:0\r\n:0\r\n")
		return err == nil
	case s.fault.hang:
		<-s.done
		return false
	case s.fault.drip > 0:
		for i := range len(s.fault.reply) {
			select {
			case <-s.done:
				return false
			case <-time.After(s.fault.drip):
			}
			if _, err := io.WriteString(w, s.fault.reply[i:i+1]); err != nil {
				return false
			}
		}
		return true
	}
	_, err := w.Write(s.reply)
	return err == nil
}

// readCommand reads one command as go-redis sends it: an array of bulk
// strings.
func readCommand(rd *bufio.Reader) ([]string, error) {
	n, err := readHeader(rd, '*')
	if err != nil {
		return nil, err
	}
	if n < 1 || n > 1024 {
		return nil, fmt.Errorf("command of %d arguments", n)
	}
	cmd := make([]string, n)
	for i := range cmd {
		size, err := readHeader(rd, '$')
		if err != nil {
			return nil, err
		}
		if size < 0 || size > 1<<20 {
			return nil, fmt.Errorf("argument of %d bytes", size)
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		cmd[i] = string(b[:size])
	}
	return cmd, nil
}

func readHeader(rd *bufio.Reader, typ byte) (int, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != typ {
		return 0, fmt.Errorf("bad header %q", line)
	}
	return strconv.Atoi(strings.TrimSuffix(line[1:], "\r\n"))
}

// dropConns closes every connection, as a server restarting does, and
// goes on accepting new ones.
func (s *fakeRedis) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.Close()
		delete(s.conns, c)
	}
}

// close stops the server and ends every connection, hung ones included.
func (s *fakeRedis) close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}
