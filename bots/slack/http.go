package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	"ayuda/bots"
)

// maxBody is the largest request Handler reads; Slack's are far smaller.
const maxBody = 1 << 20

// Handler returns the HTTP handler of the Events API (HTTP mode): point
// the app's Event Subscriptions, Interactivity and /ayuda command Request
// URLs at wherever it is mounted. Every request must carry a valid
// signature made with Config.SigningSecret less than five minutes ago;
// others get 401. The url_verification challenge is answered; events,
// interactions and commands are recorded in the inbox, answered 200 at
// once and handled by Run's workers. In Socket mode it answers 404.
func (b *Bot) Handler() http.Handler {
	return http.HandlerFunc(b.serveHTTP)
}

func (b *Bot) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if b.cfg.Mode != HTTP {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	if !b.running.Load() {
		// Another replica runs Slack (or this one has not started yet):
		// Slack retries the event, and the load balancer may pick it.
		http.Error(w, "Slack is served by another replica", http.StatusServiceUnavailable)
		return
	}
	// The signature's headers (present, and a timestamp within five
	// minutes) are checked before any of the body is read.
	sv, err := slack.NewSecretsVerifier(r.Header, b.cfg.SigningSecret.Reveal())
	if err != nil {
		b.log.WarnContext(r.Context(), "rejected an unsigned or stale request", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	_, _ = sv.Write(body)
	if err = sv.Ensure(); err != nil {
		b.log.WarnContext(r.Context(), "rejected an unsigned or stale request", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e *envelope
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var outer struct {
			Type      string `json:"type"`
			Challenge string `json:"challenge"`
		}
		if err := json.Unmarshal(body, &outer); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		switch outer.Type {
		case slackevents.URLVerification:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, outer.Challenge)
			return
		case slackevents.CallbackEvent:
			e = newEnvelope(typeEvents, body)
		default:
			w.WriteHeader(http.StatusOK)
			return
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		switch {
		case form.Get("payload") != "":
			e = newEnvelope(typeInteractive, []byte(form.Get("payload")))
		case form.Get("command") != "":
			cmd := slack.SlashCommand{
				TeamID: form.Get("team_id"), ChannelID: form.Get("channel_id"), ChannelName: form.Get("channel_name"),
				UserID: form.Get("user_id"), UserName: form.Get("user_name"), Command: form.Get("command"),
				Text: form.Get("text"), ResponseURL: form.Get("response_url"), TriggerID: form.Get("trigger_id"),
				APIAppID: form.Get("api_app_id"),
			}
			data, err := json.Marshal(cmd)
			if err != nil {
				http.Error(w, "bad command", http.StatusBadRequest)
				return
			}
			e = newEnvelope(typeCommand, data)
		default:
			http.Error(w, "unknown request", http.StatusBadRequest)
			return
		}
	}
	if b.receive(r.Context(), e) {
		b.dispatch(e)
	}
	w.WriteHeader(http.StatusOK)
}

// listen serves Handler on Config.Listen until ctx is done, then drains
// requests for up to five seconds.
func (b *Bot) listen(ctx context.Context) error {
	ln, err := bots.Listen(b.cfg.Listen, bots.DefaultLimits)
	if err != nil {
		return fmt.Errorf("slack: listen: %w", err)
	}
	srv := bots.NewServer(b.Handler(), b.log, bots.DefaultLimits)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("slack: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && serr != nil {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("slack: shutdown: %w", err)
	}
	return nil
}
