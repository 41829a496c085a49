// Command notify-expiries is the scheduled Lambda function that sends each
// license's expiry reminders (LicenseExpiringSoon) and LicenseExpired.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/clsvc/license-service/internal/schedule"
	"github.com/clsvc/license-service/internal/service"
)

func main() {
	s := service.Must()
	lambda.Start(schedule.Expiries(s.App, s.Log))
}
