// Command deliver-webhooks is the Lambda function that posts the service's
// events to brands' webhook endpoints: an EventBridge rule puts each event
// on an SQS queue, which invokes it; failed deliveries are retried by the
// queue on the schedule of internal/webhook, then dead-lettered.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/service"
	"github.com/clsvc/license-service/internal/webhookqueue"
)

func main() {
	s := service.Must()
	lambda.Start(webhookqueue.MustHandler(s).Handle)
}
