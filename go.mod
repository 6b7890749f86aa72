module github.com/llmlimit/llmlimit

go 1.26
