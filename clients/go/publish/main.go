// Command publish is Herald's Go publisher example. With --data it publishes one event with the
// unary Publish; without it, every line of stdin (or, with --count=N, N generated events) is one
// event sent over one PublishStream, answered in order.
//
// It prints `<topic> <offset> <epoch>` per published event on stdout and `error <code> <message>`
// per refused stream item on stderr. Exit status: 0 all published, 1 a publish or the call
// failed, 2 bad usage. See ../README.md to generate the stubs and run it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	heraldv1 "github.com/herald-gateway/herald/gen/go/herald/v1"
)

var (
	target      = flag.String("target", "127.0.0.1:50051", "gRPC address of the gateway")
	topic       = flag.String("topic", "", "topic to publish to (required)")
	data        = flag.String("data", "", "publish one event with this payload (unary Publish)")
	count       = flag.Int("count", 0, "without --data: publish N generated events, not stdin lines")
	eventType   = flag.String("type", "", "application event type")
	contentType = flag.String("content_type", "", "e.g. application/json or text/plain")
	token       = flag.String("token", "", "sent as 'authorization: Bearer <token>'")
)

func main() {
	os.Exit(run())
}

func run() int {
	flag.Parse()
	if *topic == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: publish --topic=T [--data=PAYLOAD | --count=N] [flags]")
		flag.PrintDefaults()
		return 2
	}
	oneEvent := false // --data given, even empty
	flag.Visit(func(f *flag.Flag) { oneEvent = oneEvent || f.Name == "data" })

	// grpc.Dial and WithInsecure: the API of every grpc-go from Debian 12's 1.33 on (newer ones
	// also offer grpc.NewClient and credentials/insecure).
	conn, err := grpc.Dial(*target, grpc.WithInsecure())
	if err != nil {
		fmt.Fprintf(os.Stderr, "publish: %v\n", err)
		return 2
	}
	defer conn.Close()
	client := heraldv1.NewPublisherClient(conn)

	ctx := context.Background()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}
	if oneEvent {
		return publishOne(ctx, client)
	}
	return publishStream(ctx, client)
}

func newRequest(payload []byte) *heraldv1.PublishRequest {
	return &heraldv1.PublishRequest{
		Topic:       *topic,
		Type:        *eventType,
		Data:        payload,
		ContentType: *contentType,
	}
}

func printCallError(err error) {
	st := status.Convert(err)
	fmt.Fprintf(os.Stderr, "publish: %s: %s\n", st.Code(), st.Message())
}

func publishOne(ctx context.Context, client heraldv1.PublisherClient) int {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	response, err := client.Publish(ctx, newRequest([]byte(*data)))
	if err != nil {
		printCallError(err)
		return 1
	}
	fmt.Printf("%s %d %s\n", response.GetTopic(), response.GetOffset(), response.GetEpoch())
	return 0
}

func publishStream(ctx context.Context, client heraldv1.PublisherClient) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.PublishStream(ctx)
	if err != nil {
		printCallError(err)
		return 1
	}

	// A goroutine sends while this one reads the answers, so neither waits for the other.
	type sendResult struct {
		sent int
		err  error // reading stdin failed
	}
	sendDone := make(chan sendResult, 1)
	go func() {
		var result sendResult
		defer func() {
			stream.CloseSend()
			sendDone <- result
		}()
		send := func(payload []byte) bool {
			request := newRequest(payload)
			request.RequestId = strconv.Itoa(result.sent + 1)
			if stream.Send(request) != nil {
				return false // The stream broke: Recv below returns its status.
			}
			result.sent++
			return true
		}
		if *count > 0 {
			for n := 1; n <= *count; n++ {
				if !send([]byte(fmt.Sprintf("event %d", n))) {
					return
				}
			}
			return
		}
		lines := bufio.NewScanner(os.Stdin)
		lines.Buffer(make([]byte, 0, 64*1024), 1024*1024) // lines up to 1 MiB
		for lines.Scan() {
			if !send([]byte(lines.Text())) {
				return
			}
		}
		result.err = lines.Err()
	}()

	answered, failed := 0, false
	for {
		response, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			printCallError(err)
			return 1
		}
		answered++
		if e := response.GetError(); e.GetCode() != 0 {
			failed = true
			fmt.Fprintf(os.Stderr, "error %d %s\n", e.GetCode(), e.GetMessage())
			continue
		}
		fmt.Printf("%s %d %s\n", response.GetTopic(), response.GetOffset(), response.GetEpoch())
	}
	result := <-sendDone
	if result.err != nil {
		fmt.Fprintf(os.Stderr, "publish: reading stdin: %v\n", result.err)
		return 1
	}
	if answered != result.sent {
		fmt.Fprintf(os.Stderr, "publish: the stream ended after %d of %d answers\n",
			answered, result.sent)
		return 1
	}
	if failed {
		return 1
	}
	return 0
}
