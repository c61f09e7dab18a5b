package escalation

import (
	bolt "go.etcd.io/bbolt"

	"ayuda/escalation/store/boltstore"
)

// boltDB is the bbolt file beneath q, for tests of what only bbolt does.
func (q *Queue) boltDB() *bolt.DB { return q.st.(*boltstore.Store).DB() }
