package validate

import (
	"encoding/json"

	"github.com/milvus-io/milvus-proto/go-api/v2/schemapb"
)

// dynamicRows is verifyDynamicFieldData: every $meta row must be a JSON
// object that neither sets "$meta" nor shadows a static field. Columns
// named $meta besides the dynamic one are checked too, as in Milvus.
func dynamicRows(s *Schema, cols []*schemapb.FieldData, dynamic int) *Error {
	for i, c := range cols {
		if i != dynamic && c.GetFieldName() != metaFieldName {
			continue
		}
		for _, row := range c.GetScalars().GetJsonData().GetData() {
			if err := dynamicRow(s, row); err != nil {
				return err
			}
		}
	}
	return nil
}

func dynamicRow(s *Schema, row []byte) *Error {
	start := skipSpace(row, 0)
	if !json.Valid(row) || start >= len(row) || row[start] != '{' {
		// Milvus unmarshals into a map: null is an empty object, anything
		// else that is not an object fails with the JSON library's error.
		var m map[string]any
		if err := json.Unmarshal(row, &m); err != nil {
			return ioFailed(err.Error())
		}
		return nil
	}
	var buf [16][]byte
	keys := objectKeys(row[start:], buf[:0])
	for _, k := range keys {
		if string(k) == metaFieldName {
			return unexpected("cannot set json key to: %s", metaFieldName)
		}
	}
	for i := range s.fields {
		name := s.fields[i].GetName()
		for _, k := range keys {
			if string(k) == name {
				return unexpected("dynamic field name cannot include the static field name: %s", name)
			}
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// objectKeys appends the top-level keys of a valid JSON object to keys.
func objectKeys(b []byte, keys [][]byte) [][]byte {
	depth, expectKey := 0, false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{':
			depth++
			expectKey = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			j, escaped := i+1, false
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					escaped = true
					j++
				}
			}
			if depth == 1 && expectKey {
				keys = append(keys, jsonKey(b[i:j+1], escaped))
				expectKey = false
			}
			i = j
		}
	}
	return keys
}

// jsonKey returns the key text of a quoted JSON string.
func jsonKey(quoted []byte, escaped bool) []byte {
	if !escaped {
		return quoted[1 : len(quoted)-1]
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return quoted
	}
	return []byte(s)
}
