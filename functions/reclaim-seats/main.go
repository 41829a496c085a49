// Command reclaim-seats is the scheduled Lambda function that frees seats not
// seen for as many days as each brand chose.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/schedule"
	"github.com/clsvc/license-service/internal/service"
)

func main() {
	s := service.Must()
	lambda.Start(schedule.Reclaim(s.App, s.Log))
}
