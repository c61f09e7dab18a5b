package telegram

// Calling the Bot API: requests under the caller's context, errors
// scrubbed of the token, back-off, and the small helpers the update loop
// uses (recently seen keys, per-key locks).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// request sends one SDK request, retrying as do does.
func (b *Bot) request(ctx context.Context, method string, c tgbotapi.Chattable) (*tgbotapi.APIResponse, error) {
	return b.do(ctx, method, func(api *tgbotapi.BotAPI) (*tgbotapi.APIResponse, error) { return api.Request(c) })
}

// raw calls a method the SDK has no config for (or lacks fields of).
func (b *Bot) raw(ctx context.Context, method string, p tgbotapi.Params) (*tgbotapi.APIResponse, error) {
	return b.do(ctx, method, func(api *tgbotapi.BotAPI) (*tgbotapi.APIResponse, error) { return api.MakeRequest(method, p) })
}

// do runs call with an SDK client bound to ctx. A 429 waits as long as
// Telegram asks; a 5xx or a network failure backs off (1 s doubling); both
// retry, up to maxAttempts tries. Other API errors are returned at once as
// *APIError.
func (b *Bot) do(ctx context.Context, method string, call func(*tgbotapi.BotAPI) (*tgbotapi.APIResponse, error)) (*tgbotapi.APIResponse, error) {
	bo := b.backoff()
	for attempt := 1; ; attempt++ {
		resp, err := call(b.api(ctx))
		if err == nil {
			return resp, nil
		}
		err = apiError(method, err)
		if ctx.Err() != nil {
			return nil, err
		}
		var wait time.Duration
		var ae *APIError
		switch {
		case errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests:
			wait = max(ae.RetryAfter, time.Second)
		case errors.As(err, &ae) && ae.Code < 500:
			return nil, err
		default: // 5xx, network, an answer that is not the Bot API's JSON
			wait = bo.next()
		}
		if attempt >= maxAttempts {
			return nil, err
		}
		b.log.DebugContext(ctx, "telegram request failed; retrying", "method", method, "attempt", attempt, "wait", wait, "err", err)
		if b.sleep(ctx, wait) != nil {
			return nil, err
		}
	}
}

// apiError turns the SDK's error into an *APIError, or wraps it.
func apiError(method string, err error) error {
	var te *tgbotapi.Error
	if errors.As(err, &te) {
		return &APIError{Method: method, Code: te.Code, Description: te.Message,
			RetryAfter: time.Duration(te.RetryAfter) * time.Second, err: te}
	}
	return fmt.Errorf("telegram: %s: %w", method, err)
}

// api returns the SDK client for one call: a shallow copy of the template
// whose HTTP client attaches ctx to every request. (The SDK builds its
// requests with http.NewRequest and no context; this is how a cancelled ctx
// reaches an in-flight long poll.)
func (b *Bot) api(ctx context.Context) *tgbotapi.BotAPI {
	api := *b.tg
	api.Client = ctxClient{ctx: ctx, c: b.client, token: b.cfg.Token.Reveal()}
	return &api
}

type ctxClient struct {
	ctx   context.Context
	c     *http.Client
	token string
}

// Do sends req under the call's context, and keeps the token (which is
// part of every URL) out of the error.
func (c ctxClient) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.c.Do(req.WithContext(c.ctx))
	if err != nil {
		return nil, scrub(err, c.token)
	}
	return resp, nil
}

// scrub removes token from err's text, keeping what it wraps.
func scrub(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.URL = strings.ReplaceAll(ue.URL, token, redacted)
		err = &cp
		if !strings.Contains(err.Error(), token) {
			return err
		}
	}
	return &scrubbed{msg: strings.ReplaceAll(err.Error(), token, redacted), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// backoff doubles from the Bot's retryBase up to maxBackoff.
type backoff struct{ base, cur time.Duration }

func (b *Bot) backoff() *backoff { return &backoff{base: b.retryBase} }

func (bo *backoff) next() time.Duration {
	if bo.cur == 0 {
		bo.cur = bo.base
	} else {
		bo.cur = min(bo.cur*2, maxBackoff)
	}
	return bo.cur
}

func (bo *backoff) reset() { bo.cur = 0 }

// recent is a bounded set of keys, forgetting the oldest.
type recent struct {
	mu   sync.Mutex
	max  int
	set  map[string]bool
	fifo []string
}

// add adds key and reports whether it was new.
func (r *recent) add(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set[key] {
		return false
	}
	if r.set == nil {
		r.set = map[string]bool{}
	}
	r.set[key] = true
	r.fifo = append(r.fifo, key)
	if len(r.fifo) > r.max {
		delete(r.set, r.fifo[0])
		r.fifo = r.fifo[1:]
	}
	return true
}

func (r *recent) has(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.set[key]
}
