package videoforge

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes shared by every part. Every server answers them with HTTPStatus; the
// strings are the "code" field of the JSON error body clients see.
const (
	EINVALID      = "invalid"      // the request is malformed or a value is out of range
	EUNAUTHORIZED = "unauthorized" // no credentials, or credentials that do not verify
	EFORBIDDEN    = "forbidden"    // the caller is known but may not do this
	ENOTFOUND     = "not_found"    // the thing does not exist or is not visible to the caller
	ECONFLICT     = "conflict"     // the thing is not in a state that allows this
	ETOOLARGE     = "too_large"    // the request body or upload is over a limit
	ERATELIMIT    = "rate_limited" // the caller must slow down
	EUNAVAILABLE  = "unavailable"  // a dependency is down; retrying later may work
	EINTERNAL     = "internal"     // a bug or an unexpected failure; details are logged only
)

// Error is an error meant for the caller: its code says what kind of failure it is and
// its message is safe to show. Errors of any other type are internal.
type Error struct {
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("videoforge error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of the first *Error in err's chain, or "internal
// error" for any other non-nil error so that internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// HTTPStatus is the HTTP status every VideoForge server answers an error code with
// (500 for EINTERNAL and any unknown code).
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ENOTFOUND:
		return http.StatusNotFound
	case ECONFLICT:
		return http.StatusConflict
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case ERATELIMIT:
		return http.StatusTooManyRequests
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
