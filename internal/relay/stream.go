package relay

import (
	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StreamRecordFromItem makes the stream record DynamoDB would write for the
// insert of item with the sequence number seq (NEW_IMAGE view): the local
// mode hands committed event items to Handle through it. Every attribute
// type converts; a value of a type this SDK version does not know is left
// out.
func StreamRecordFromItem(item map[string]types.AttributeValue, seq string) events.DynamoDBEventRecord {
	img := imageFromItem(item)
	keys := map[string]events.DynamoDBAttributeValue{}
	for _, k := range []string{"pk", attrSK} {
		if v, ok := img[k]; ok {
			keys[k] = v
		}
	}
	return events.DynamoDBEventRecord{
		EventID:      seq,
		EventName:    string(events.DynamoDBOperationTypeInsert),
		EventSource:  "aws:dynamodb",
		EventVersion: "1.1",
		Change: events.DynamoDBStreamRecord{
			Keys:           keys,
			NewImage:       img,
			SequenceNumber: seq,
			StreamViewType: string(events.DynamoDBStreamViewTypeNewImage),
		},
	}
}

func imageFromItem(item map[string]types.AttributeValue) map[string]events.DynamoDBAttributeValue {
	img := make(map[string]events.DynamoDBAttributeValue, len(item))
	for k, v := range item {
		if a, ok := streamValue(v); ok {
			img[k] = a
		}
	}
	return img
}

// streamValue converts an SDK attribute value to its stream event form.
func streamValue(v types.AttributeValue) (events.DynamoDBAttributeValue, bool) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return events.NewStringAttribute(v.Value), true
	case *types.AttributeValueMemberN:
		return events.NewNumberAttribute(v.Value), true
	case *types.AttributeValueMemberBOOL:
		return events.NewBooleanAttribute(v.Value), true
	case *types.AttributeValueMemberNULL:
		return events.NewNullAttribute(), true
	case *types.AttributeValueMemberB:
		return events.NewBinaryAttribute(v.Value), true
	case *types.AttributeValueMemberSS:
		return events.NewStringSetAttribute(v.Value), true
	case *types.AttributeValueMemberNS:
		return events.NewNumberSetAttribute(v.Value), true
	case *types.AttributeValueMemberBS:
		return events.NewBinarySetAttribute(v.Value), true
	case *types.AttributeValueMemberM:
		return events.NewMapAttribute(imageFromItem(v.Value)), true
	case *types.AttributeValueMemberL:
		l := make([]events.DynamoDBAttributeValue, 0, len(v.Value))
		for _, e := range v.Value {
			if a, ok := streamValue(e); ok {
				l = append(l, a)
			}
		}
		return events.NewListAttribute(l), true
	default:
		return events.DynamoDBAttributeValue{}, false
	}
}
