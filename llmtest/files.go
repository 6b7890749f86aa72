package llmtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// storedFile is a file of either API: an uploaded input file or a job's
// results.
type storedFile struct {
	id, api          string
	name, mime       string // Gemini's displayName and mimeType; OpenAI's filename
	purpose          string // OpenAI's purpose
	data             []byte
	created          time.Time
	gemini, download bool // a Gemini file; a result file, counted when read
}

// pendingUpload is a Gemini resumable upload between its start and its
// final chunk.
type pendingUpload struct {
	name, mime string
	data       []byte
}

// addFile stores data as a new file and returns it.
func (b *batchStore) addFile(f *storedFile) *storedFile {
	f.id = b.newID("emu")
	f.created = time.Now()
	b.files[f.id] = f
	return f
}

// OpenAI: POST /v1/files (multipart: purpose, file) and GET
// /v1/files/{id}/content.

// openaiFileJSON is a file object as the API returns it.
type openaiFileJSON struct {
	ID            string  `json:"id"`
	Object        string  `json:"object"`
	Bytes         int     `json:"bytes"`
	CreatedAt     int64   `json:"created_at"`
	ExpiresAt     int64   `json:"expires_at"`
	Filename      string  `json:"filename"`
	Purpose       string  `json:"purpose"`
	Status        string  `json:"status"`
	StatusDetails *string `json:"status_details"`
}

func openaiFileID(f *storedFile) string { return "file-" + f.id }

func openaiFile(f *storedFile) openaiFileJSON {
	return openaiFileJSON{
		ID: openaiFileID(f), Object: "file", Bytes: len(f.data), CreatedAt: f.created.Unix(),
		ExpiresAt: f.created.Add(30 * day).Unix(), Filename: f.name, Purpose: f.purpose, Status: "processed",
	}
}

// serveOpenAIUpload reads a multipart upload as openai-go's Files.New
// writes it.
func (e *Emulator) serveOpenAIUpload(w http.ResponseWriter, r *http.Request) {
	wire := &openaiWire{}
	mr, err := r.MultipartReader()
	if err != nil {
		wire.writeBadRequest(w, http.StatusBadRequest, "Invalid multipart body: "+err.Error())
		return
	}
	var purpose, name string
	var data []byte
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			wire.writeBadRequest(w, http.StatusBadRequest, "Invalid multipart body.")
			return
		}
		switch part.FormName() {
		case "purpose":
			v, _ := io.ReadAll(io.LimitReader(part, 64))
			purpose = string(v)
		case "file":
			name = part.FileName()
			data, err = io.ReadAll(io.LimitReader(part, openaiBatchMaxBytes+1))
			if err != nil {
				wire.writeBadRequest(w, http.StatusBadRequest, "Could not read the file.")
				return
			}
			found = true
		}
	}
	switch {
	case !found:
		wire.writeBadRequest(w, http.StatusBadRequest, "Missing required parameter: 'file'.")
		return
	case purpose == "":
		wire.writeBadRequest(w, http.StatusBadRequest, "Missing required parameter: 'purpose'.")
		return
	case len(data) > openaiBatchMaxBytes:
		wire.writeBadRequest(w, http.StatusRequestEntityTooLarge, "File is too large.")
		return
	}
	b := &e.batch
	b.mu.Lock()
	f := b.addFile(&storedFile{api: "openai", name: name, purpose: purpose, data: data})
	b.counters.OpenAI.Uploads++
	body := openaiFile(f)
	b.mu.Unlock()
	writeJSON(w, "application/json", http.StatusOK, body)
}

// serveOpenAIContent answers GET /v1/files/{id}/content with the file's
// bytes.
func (e *Emulator) serveOpenAIContent(w http.ResponseWriter, id string) {
	b := &e.batch
	b.mu.Lock()
	f := b.files[strings.TrimPrefix(id, "file-")]
	if f != nil && f.api == "openai" && f.download {
		b.counters.OpenAI.Downloads++
	}
	b.mu.Unlock()
	if f == nil || f.api != "openai" || !strings.HasPrefix(id, "file-") {
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", fmt.Sprintf("No such File object: %s", id))
		return
	}
	writeFileData(w, f.data)
}

// Gemini: the resumable upload genai's Files.Upload speaks (POST
// /upload/v1beta/files with X-Goog-Upload-Command: start, answered with
// an X-Goog-Upload-Url; then POSTs of chunks to that URL, "upload" or
// "upload, finalize" at an X-Goog-Upload-Offset, answered with
// X-Goog-Upload-Status active or final), and GET
// /v1beta/files/{id}:download?alt=media.

// geminiFileJSON is a File resource as the API returns it.
type geminiFileJSON struct {
	Name           string `json:"name"`
	DisplayName    string `json:"displayName,omitempty"`
	MIMEType       string `json:"mimeType"`
	SizeBytes      string `json:"sizeBytes"`
	CreateTime     string `json:"createTime"`
	UpdateTime     string `json:"updateTime"`
	ExpirationTime string `json:"expirationTime"`
	SHA256Hash     string `json:"sha256Hash"`
	URI            string `json:"uri"`
	State          string `json:"state"`
	Source         string `json:"source"`
}

func geminiFileName(f *storedFile) string { return "files/" + f.id }

func geminiFile(f *storedFile, host string) geminiFileJSON {
	sum := sha256.Sum256(f.data)
	return geminiFileJSON{
		Name: geminiFileName(f), DisplayName: f.name, MIMEType: f.mime, SizeBytes: strconv.Itoa(len(f.data)),
		CreateTime: rfc3339(f.created), UpdateTime: rfc3339(f.created), ExpirationTime: rfc3339(f.created.Add(48 * time.Hour)),
		SHA256Hash: base64.StdEncoding.EncodeToString(sum[:]), URI: "http://" + host + "/v1beta/" + geminiFileName(f),
		State: "ACTIVE", Source: "UPLOADED",
	}
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// serveGeminiUpload answers both steps of a resumable upload.
func (e *Emulator) serveGeminiUpload(w http.ResponseWriter, r *http.Request) {
	wire := &geminiWire{}
	h := w.Header()
	cmd := strings.ToLower(r.Header.Get("X-Goog-Upload-Command"))
	b := &e.batch
	if cmd == "start" {
		var meta struct {
			File struct {
				DisplayName string `json:"displayName"`
				MIMEType    string `json:"mimeType"`
			} `json:"file"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(body) > 0 && json.Unmarshal(body, &meta) != nil {
			wire.writeBadRequest(w, http.StatusBadRequest, "Invalid JSON payload received.")
			return
		}
		mime := meta.File.MIMEType
		if mime == "" {
			mime = r.Header.Get("X-Goog-Upload-Header-Content-Type")
		}
		b.mu.Lock()
		id := b.newID("up")
		b.uploads[id] = &pendingUpload{name: meta.File.DisplayName, mime: mime}
		b.mu.Unlock()
		h.Set("X-Goog-Upload-Url", "http://"+r.Host+"/upload/v1beta/files?upload_id="+id+"&upload_protocol=resumable")
		h.Set("X-Goog-Upload-Status", "active")
		w.WriteHeader(http.StatusOK)
		return
	}
	id := r.URL.Query().Get("upload_id")
	offset, err := strconv.Atoi(r.Header.Get("X-Goog-Upload-Offset"))
	if err != nil || !strings.Contains(cmd, "upload") {
		h.Set("X-Goog-Upload-Status", "final")
		wire.writeBadRequest(w, http.StatusBadRequest, "Invalid upload command or offset.")
		return
	}
	chunk, err := io.ReadAll(io.LimitReader(r.Body, maxUpload+1))
	b.mu.Lock()
	up := b.uploads[id]
	switch {
	case up == nil:
		b.mu.Unlock()
		h.Set("X-Goog-Upload-Status", "final")
		writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Upload session not found.")
		return
	case err != nil || offset != len(up.data) || len(up.data)+len(chunk) > maxUpload:
		delete(b.uploads, id)
		b.mu.Unlock()
		h.Set("X-Goog-Upload-Status", "final")
		wire.writeBadRequest(w, http.StatusBadRequest, "Upload chunk at a wrong offset or too large.")
		return
	}
	up.data = append(up.data, chunk...)
	if !strings.Contains(cmd, "finalize") {
		b.mu.Unlock()
		h.Set("X-Goog-Upload-Status", "active")
		w.WriteHeader(http.StatusOK)
		return
	}
	delete(b.uploads, id)
	f := b.addFile(&storedFile{api: "gemini", name: up.name, mime: up.mime, data: up.data, gemini: true})
	b.counters.Gemini.Uploads++
	file := geminiFile(f, r.Host)
	b.mu.Unlock()
	h.Set("X-Goog-Upload-Status", "final")
	writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, map[string]any{"file": file})
}

// serveGeminiDownload answers GET /v1beta/files/{id}:download?alt=media.
func (e *Emulator) serveGeminiDownload(w http.ResponseWriter, r *http.Request, id string) {
	b := &e.batch
	b.mu.Lock()
	f := b.files[id]
	if f != nil && f.gemini && f.download {
		b.counters.Gemini.Downloads++
	}
	b.mu.Unlock()
	if f == nil || !f.gemini {
		writeGeminiError(w, http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	if r.URL.Query().Get("alt") != "media" {
		writeJSON(w, "application/json; charset=UTF-8", http.StatusOK, geminiFile(f, r.Host))
		return
	}
	writeFileData(w, f.data)
}

// writeFileData answers a download with a file's bytes.
func writeFileData(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// pathID returns the one path segment after prefix and before suffix.
func pathID(path, prefix, suffix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, suffix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	if u, err := url.PathUnescape(id); err == nil {
		id = u
	}
	return id, true
}
